"""The script people write today: a boto3 loop over the accounts, one at a time, polling each
report (the AWS sample's logic without Step Functions). Used by bench/run-org --baseline.
Reads the same environment as credreport (AWS_ENDPOINT_URL, keys); writes to a folder."""
import os
import sys
import time

import boto3

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
session = boto3.session.Session()
orgs = session.client("organizations")
sts = session.client("sts")
me = sts.get_caller_identity()["Account"]
accounts = [a for page in orgs.get_paginator("list_accounts").paginate() for a in page["Accounts"]
            if a.get("Status", "ACTIVE") != "SUSPENDED"]
done = failed = 0
for a in accounts:
    try:
        if a["Id"] == me:
            iam = session.client("iam")
        else:
            c = sts.assume_role(RoleArn=f"arn:aws:iam::{a['Id']}:role/OrganizationAccountAccessRole",
                                RoleSessionName="baseline")["Credentials"]
            iam = session.client("iam", aws_access_key_id=c["AccessKeyId"],
                                 aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
        for _ in range(45):
            if iam.generate_credential_report()["State"] == "COMPLETE":
                break
            time.sleep(1)
        body = iam.get_credential_report()["Content"]  # boto3 decodes the base64 blob
        with open(os.path.join(out, f"credentialReport_{a['Id']}.csv"), "wb") as f:
            f.write(body)
        done += 1
    except Exception as e:  # the sample reports and moves on
        failed += 1
print(f"boto3 sequential: {done} delivered, {failed} failed of {len(accounts)}")
