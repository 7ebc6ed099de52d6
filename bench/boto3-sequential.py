"""The script people write today: a boto3 loop over the accounts, one at a time, polling each
report (the AWS sample's logic without Step Functions). Used by bench/run-org --baseline.
Reads the same environment as credreport (AWS_ENDPOINT_URL, keys); writes to a folder."""
import os
import sys
import time

import boto3

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
session = boto3.session.Session(region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
# Debian's botocore predates AWS_ENDPOINT_URL, so the endpoint is passed explicitly.
endpoint = os.environ.get("AWS_ENDPOINT_URL")
orgs = session.client("organizations", endpoint_url=endpoint)
sts = session.client("sts", endpoint_url=endpoint)
me = sts.get_caller_identity()["Account"]
accounts = [a for page in orgs.get_paginator("list_accounts").paginate() for a in page["Accounts"]
            if a.get("Status", "ACTIVE") != "SUSPENDED"]
done = failed = 0
for a in accounts:
    try:
        if a["Id"] == me:
            iam = session.client("iam", endpoint_url=endpoint)
        else:
            c = sts.assume_role(RoleArn=f"arn:aws:iam::{a['Id']}:role/OrganizationAccountAccessRole",
                                RoleSessionName="baseline")["Credentials"]
            iam = session.client("iam", endpoint_url=endpoint, aws_access_key_id=c["AccessKeyId"],
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
        print(f"{a['Id']}: {e}", file=sys.stderr)
print(f"boto3 sequential: {done} delivered, {failed} failed of {len(accounts)}")
