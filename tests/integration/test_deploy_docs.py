"""The deployment guide (docs/deploy.md), its IAM documents (docs/iam) and its scheduling
recipes (docs/scheduling), checked against the code: valid policy grammar, exactly the AWS
actions the Lua code calls, a CloudFormation template and Kubernetes manifests with the
settings the guide promises, systemd units that systemd-analyze accepts, a crontab line that
cron and sh understand, and runs against the emulator (IRSA credentials and the settings of
the Kubernetes recipe) whose every request the documented policies allow, through a small
evaluator of the IAM policy language."""
import configparser
import fnmatch
import json
import os
import re
import shutil
import subprocess

from harness import ROOT, check, run_credreport

try:  # Debian's python3-yaml; without it the YAML files get structural text checks only
    import yaml
except ImportError:  # pragma: no cover - depends on the machine
    yaml = None

DOCS = ROOT / "docs"
IAM = DOCS / "iam"
SCHED = DOCS / "scheduling"
GUIDE = DOCS / "deploy.md"
FIXTURE = ROOT / "tests" / "emulator" / "fixtures" / "small.json"

# Values for the placeholders, chosen to match the guide's example config, the Kubernetes
# ConfigMap and the emulator fixture used below.
SAMPLE = {
    "ROLE_NAME": "CredReportMemberRole",
    "ORG_ID": "o-exampleorg1",
    "RUNNER_PRINCIPAL_ARN": "arn:aws:iam::111111111111:role/credreport-runner",
    "RUNNER_ACCOUNT_ID": "111111111111",
    "BUCKET": "example-credreports",
    "PREFIX": "credreport",
    "BUCKET_REGION": "eu-west-1",
    "KMS_KEY_ARN": "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "SECURITY_ACCOUNT_ID": "222222222222",
    "TOPIC_ARN": "arn:aws:sns:eu-west-1:222222222222:credreport-alerts",
    "EXTERNAL_ID": "credreport-7f3a9c",
    "OIDC_PROVIDER": "oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE",
}
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)>")

# Condition keys the documents may use: each is documented by AWS for the action it guards.
KNOWN_CONDITION_KEYS = {
    "aws:resourceorgid", "aws:resourceorgpaths", "aws:principalorgid", "aws:securetransport",
    "kms:viaservice", "kms:encryptioncontext:aws:s3:arn", "kms:calleraccount",
    "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-acl", "s3:prefix", "sts:externalid",
}
OPERATORS = {"StringEquals", "StringNotEquals", "StringLike", "StringNotLike", "Bool",
             "ForAnyValue:StringLike", "ForAnyValue:StringEquals"}
RESOURCE_ARN = {  # service of the action -> the resource ARN it acts on
    "s3": re.compile(r"arn:aws:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?"),
    "sts": re.compile(r"arn:aws:iam::(\d{12}|\*):role/[\w+=,.@/-]+"),
    "sns": re.compile(r"arn:aws:sns:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:[\w-]{1,256}"),
    "kms": re.compile(r"arn:aws:kms:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:key/[0-9a-f-]{36}"),
}
PRINCIPAL_ARN = re.compile(r"arn:aws:iam::\d{12}:(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)")


# ---------------------------------------------------------------------------------------
# What the code calls


def code_operations():
    """{service: {operation}} as called by the bundled Lua library and workflows."""
    ops = {}
    sources = sorted((ROOT / "lua").rglob("*.lua"))
    check(sources, "no Lua sources found")
    for path in sources:
        text = path.read_text()
        for service, op in re.findall(r':(?:json|query)\(\s*"(\w+)"\s*,\s*"(\w+)"', text):
            ops.setdefault(service, set()).add(op)
        if path.name == "organizations.lua":
            # Its helpers take (client, "Operation", ...): each(), call() and the like.
            for op in re.findall(r'\(\s*client\s*,\s*"([A-Z][A-Za-z]+)"', text):
                ops.setdefault("organizations", set()).add(op)
        else:
            dynamic = re.findall(r'[:.]json\(\s*(?!")[^)]*', text) + re.findall(r'[:.]json\(\s*"\w+"\s*,\s*(?!")[^)]*', text)
            check(not dynamic, f"{path.name}: an AWS call whose operation this test cannot read: {dynamic}")
        for method, args in re.findall(r':s3\(\s*"(\w+)"\s*,\s*\{([^}]*)\}', text):
            has_key = re.search(r"\bkey\s*=", args) is not None
            location = re.search(r'\bquery\s*=\s*"location"', args) is not None
            action = {("PUT", True): "PutObject", ("GET", True): "GetObject", ("HEAD", True): "GetObject",
                      ("GET", False): "GetBucketLocation" if location else "ListBucket"}.get((method, has_key), f"?{method}")
            ops.setdefault("s3", set()).add(action)  # S3's IAM action names (ListObjectsV2: ListBucket)
        if re.search(r":assume_role\s*[{(]", text):
            ops.setdefault("sts", set()).add("AssumeRole")
    return ops


def iam_actions(ops):
    """The IAM actions a set of operations needs (GetCallerIdentity needs none)."""
    return {f"{service}:{op}" for service, names in ops.items() for op in names
            if (service, op) != ("sts", "GetCallerIdentity")}


# ---------------------------------------------------------------------------------------
# Policy documents


def load_policy(name, values=None):
    text = (IAM / name).read_text() if isinstance(name, str) else name
    if values is not None:
        missing = set(PLACEHOLDER.findall(text)) - set(values)
        check(not missing, f"{name}: no sample value for {sorted(missing)}")
        text = PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
    return json.loads(text)


def as_list(v):
    return v if isinstance(v, list) else [v]


def statements(policy):
    return as_list(policy["Statement"])


def actions_of(policy, effect="Allow"):
    return {a for s in statements(policy) if s["Effect"] == effect for a in as_list(s["Action"])}


def check_policy_grammar(policy, where):
    """The policy language's grammar, and the ARN formats once placeholders are filled."""
    check(isinstance(policy, dict), f"{where}: not a JSON object")
    check(set(policy) <= {"Version", "Id", "Statement"}, f"{where}: unknown top-level keys {set(policy)}")
    check(policy.get("Version") == "2012-10-17", f"{where}: Version must be 2012-10-17")
    stmts = policy.get("Statement")
    check(isinstance(stmts, list) and stmts, f"{where}: Statement must be a non-empty list")
    sids = set()
    for st in stmts:
        sid = st.get("Sid")
        check(isinstance(sid, str) and re.fullmatch(r"[A-Za-z0-9]+", sid or ""),
              f"{where}: every statement needs an alphanumeric Sid: {st}")
        check(sid not in sids, f"{where}: duplicate Sid {sid}")
        sids.add(sid)
        check(set(st) <= {"Sid", "Effect", "Principal", "Action", "Resource", "Condition"},
              f"{where} {sid}: unknown keys {set(st)} (NotAction/NotResource/NotPrincipal unused)")
        check(st.get("Effect") in ("Allow", "Deny"), f"{where} {sid}: Effect")
        acts = as_list(st.get("Action"))
        check(acts and all(isinstance(a, str) and re.fullmatch(r"[a-zA-Z0-9-]+:[A-Za-z0-9*]+", a) for a in acts),
              f"{where} {sid}: Action must be service:Action: {acts}")
        trust = any(a.lower().startswith("sts:assumerole") for a in acts) and "Principal" in st
        if trust:
            check("Resource" not in st, f"{where} {sid}: a trust policy statement has no Resource")
        else:
            check("Resource" in st, f"{where} {sid}: Resource missing")
        if "Principal" in st:
            p = st["Principal"]
            if p != "*":
                check(isinstance(p, dict) and set(p) <= {"AWS", "Federated", "Service"}, f"{where} {sid}: Principal {p}")
                for arn in as_list(p.get("AWS", [])):
                    check(PRINCIPAL_ARN.fullmatch(arn), f"{where} {sid}: bad principal ARN {arn}")
                for arn in as_list(p.get("Federated", [])):
                    check(re.fullmatch(r"arn:aws:iam::\d{12}:oidc-provider/[\w./-]+", arn), f"{where} {sid}: {arn}")
        for res in as_list(st.get("Resource", [])):
            if res == "*":
                continue
            services = {a.split(":")[0].lower() for a in acts}
            for service in services:
                pattern = RESOURCE_ARN.get(service)
                if service == "s3" and any(a.lower() in ("s3:*",) for a in acts):
                    pattern = re.compile(r"arn:aws:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\*)?")
                check(pattern and pattern.fullmatch(res), f"{where} {sid}: {res} is not a {service} resource ARN")
        cond = st.get("Condition", {})
        check(isinstance(cond, dict), f"{where} {sid}: Condition must be an object")
        for op, block in cond.items():
            check(op in OPERATORS, f"{where} {sid}: unexpected condition operator {op}")
            for key, value in block.items():
                k = key.lower()
                check(k in KNOWN_CONDITION_KEYS or re.fullmatch(r"oidc\.eks\.[\w.-]+/id/\w+:(sub|aud)", k),
                      f"{where} {sid}: unknown condition key {key}")
                check(all(isinstance(v, str) for v in as_list(value)), f"{where} {sid}: {key} values must be strings")


# A small evaluator: an Allow statement that matches and no Deny statement that matches.


def _match(pattern, value, case=True):
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern)


def _condition_holds(cond, ctx):
    ctx = {k.lower(): v for k, v in ctx.items()}
    for op, block in (cond or {}).items():
        for key, wanted in block.items():
            have = ctx.get(key.lower())
            wanted = as_list(wanted)
            if op == "Bool":
                ok = have is not None and any(str(have).lower() == w.lower() for w in wanted)
            elif op in ("StringEquals", "StringLike", "ForAnyValue:StringLike", "ForAnyValue:StringEquals"):
                like = "Like" in op
                values = as_list(have) if have is not None else []
                ok = any(_match(w, v) if like else w == v for w in wanted for v in values)
            elif op in ("StringNotEquals", "StringNotLike"):
                like = "Like" in op
                ok = have is None or not any(_match(w, have) if like else w == have for w in wanted)
            else:
                raise AssertionError(f"operator {op} not evaluated")
            if not ok:
                return False
    return True


def _statement_applies(st, action, resource, ctx, principal):
    if not any(_match(a, action, case=False) for a in as_list(st["Action"])):
        return False
    if "Resource" in st and not any(_match(r, resource) for r in as_list(st["Resource"])):
        return False
    if "Principal" in st and principal is not None:
        p = st["Principal"]
        if p != "*" and principal not in as_list(p.get("AWS", [])) + as_list(p.get("Federated", [])):
            return False
    return _condition_holds(st.get("Condition"), ctx)


def allows(policy, action, resource="*", ctx=None, principal=None):
    applies = [st for st in statements(policy) if _statement_applies(st, action, resource, ctx or {}, principal)]
    return any(st["Effect"] == "Allow" for st in applies) and not any(st["Effect"] == "Deny" for st in applies)


# ---------------------------------------------------------------------------------------
# Text helpers


def block_scalar(text, key_regex):
    """The contents of the YAML block scalar (`key: |` or `- |`) whose line matches key_regex."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.search(key_regex, line) and re.search(r"\|[-+]?\s*$", line):
            indent = len(line) - len(line.lstrip())
            body = []
            for nxt in lines[i + 1:]:
                if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                body.append(nxt)
            while body and not body[-1].strip():
                body.pop()
            width = min(len(b) - len(b.lstrip()) for b in body if b.strip())
            return "\n".join(b[width:] for b in body) + "\n"
    raise AssertionError(f"no block scalar matching {key_regex}")


def fenced(text, lang):
    return re.findall(r"^```" + lang + r"\n(.*?)^```", text, re.S | re.M)


def config_keys():
    """{(section, key)} of every setting config.ini documents."""
    keys, section = set(), None
    for line in (ROOT / "config.ini").read_text().splitlines():
        m = re.match(r"\[(\w+)\]\s*$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"[;]?(\w+)\s*=", line)
        if m and section:
            keys.add((section, m.group(1)))
    return keys


def cfn_yaml(text):
    class Loader(yaml.SafeLoader):
        pass

    def tag(name):
        def construct(loader, node):
            if isinstance(node, yaml.ScalarNode):
                value = loader.construct_scalar(node)
                if name == "GetAtt" and isinstance(value, str):
                    value = value.split(".", 1)
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            else:
                value = loader.construct_mapping(node, deep=True)
            return {"Ref" if name == "Ref" else "Fn::" + name: value}
        return construct

    for name in ("Ref", "If", "Not", "Equals", "Sub", "GetAtt", "Join", "Select", "Split", "And", "Or"):
        Loader.add_constructor("!" + name, tag(name))
    return yaml.load(text, Loader=Loader)


def unreachable_env(ctx, **extra):
    return ctx.aws_env(None, AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
                       AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                       AWS_MAX_ATTEMPTS=None, XDG_RUNTIME_DIR=str(ctx.tmp), **extra)


def check_config_accepted(ctx, text, where):
    """credreport accepts the settings: a dry run gets past the configuration (status 2 is a
    configuration error) and fails only for want of AWS (status 3)."""
    path = ctx.tmp / f"check-{abs(hash(text))}.ini"
    path.write_text(text + "\n[aws]\nmax_attempts = 1\nconnect_timeout = 2\n" if "[aws]" not in text
                    else text.replace("[aws]", "[aws]\nmax_attempts = 1\nconnect_timeout = 2", 1))
    proc = run_credreport(ctx, ["run", "--dry-run", "-c", str(path)], env=unreachable_env(ctx), cwd=ctx.tmp, timeout=60)
    check(proc.returncode == 3 and "configuration errors" not in proc.stderr,
          f"{where}: credreport did not accept these settings (exit {proc.returncode}):\n{text}\n{proc.stderr[-2000:]}")


# ---------------------------------------------------------------------------------------
# Tests


def test_iam_documents_are_valid_policies(ctx):
    files = sorted(IAM.glob("*.json"))
    check(len(files) >= 8, f"expected the policy files under docs/iam, found {[f.name for f in files]}")
    documented = {name for cell in re.findall(r"^\| (`<[^|]*)\|", GUIDE.read_text(), re.M)
                  for name in PLACEHOLDER.findall(cell)}
    for path in files:
        raw = path.read_text()
        json.loads(raw)  # parses as it is, placeholders included
        names = set(PLACEHOLDER.findall(raw))
        check(names <= documented, f"{path.name}: placeholders missing from the table in deploy.md: {names - documented}")
        check_policy_grammar(load_policy(path.name, SAMPLE), path.name)
    for i, block in enumerate(fenced(GUIDE.read_text(), "json")):
        check_policy_grammar(json.loads(block), f"deploy.md json block {i + 1}")


def test_member_role_grants_only_the_credential_report(ctx):
    ops = code_operations()
    needed = {f"iam:{op}" for op in ops.get("iam", set())}
    check(needed == {"iam:GenerateCredentialReport", "iam:GetCredentialReport"},
          f"the code's IAM calls changed: {needed}; update docs/iam and docs/deploy.md")
    perms = load_policy("member-role-permissions.json", SAMPLE)
    check(actions_of(perms) == needed and actions_of(perms, "Deny") == set(), f"member role actions: {actions_of(perms)}")
    check(all(s["Resource"] == "*" for s in statements(perms)), "the credential report actions take Resource *")
    for name in ("member-role-trust.json", "member-role-trust-external-id.json"):
        trust = load_policy(name, SAMPLE)
        check(actions_of(trust) == {"sts:AssumeRole"}, f"{name}: {actions_of(trust)}")
        for st in statements(trust):
            check(st["Principal"] == {"AWS": SAMPLE["RUNNER_PRINCIPAL_ARN"]}, f"{name}: trust only the runner: {st}")
        runner = SAMPLE["RUNNER_PRINCIPAL_ARN"]
        with_id = {"sts:ExternalId": SAMPLE["EXTERNAL_ID"]}
        check(allows(trust, "sts:AssumeRole", ctx=with_id, principal=runner), f"{name}: the runner may assume it")
        check(not allows(trust, "sts:AssumeRole", ctx=with_id, principal="arn:aws:iam::999999999999:role/other"),
              f"{name}: another principal may not")
        if "external-id" in name:
            check(not allows(trust, "sts:AssumeRole", principal=runner), f"{name}: the external id is required")
            check(not allows(trust, "sts:AssumeRole", ctx={"sts:ExternalId": "wrong"}, principal=runner), name)


def test_runner_policy_matches_the_code(ctx):
    ops = code_operations()
    check(set(ops) <= {"organizations", "sts", "iam", "s3", "sns"}, f"the code calls new services: {set(ops)}")
    check(ops.get("s3") == {"PutObject", "ListBucket", "GetObject", "GetBucketLocation"},
          f"the code's S3 calls changed: {ops.get('s3')}; update docs/iam and docs/deploy.md")
    check(ops.get("sts", set()) <= {"GetCallerIdentity", "AssumeRole"}, f"STS calls: {ops.get('sts')}")
    org = {f"organizations:{op}" for op in ops.get("organizations", set())}
    check(org == {"organizations:ListRoots", "organizations:ListOrganizationalUnitsForParent",
                  "organizations:ListAccountsForParent", "organizations:DescribeOrganizationalUnit",
                  "organizations:ListTagsForResource"}, f"the code's Organizations calls changed: {sorted(org)}")
    raw = json.loads((IAM / "runner-policy.json").read_text())
    policy = load_policy("runner-policy.json", SAMPLE)
    resume = load_policy("runner-policy-resume.json", SAMPLE)
    granted = actions_of(policy) | actions_of(resume)
    check(not any("*" in a for a in granted), f"no wildcard actions: {granted}")
    check(actions_of(policy, "Deny") | actions_of(resume, "Deny") == set(), "the runner policies have no Deny")
    # Exactly the code's actions, plus the KMS calls S3 makes: a data key for an SSE-KMS
    # upload, a decryption for an SSE-KMS download (resume reads the manifests).
    kms = {"kms:GenerateDataKey", "kms:Decrypt"}
    check(granted == iam_actions(ops) | kms,
          f"runner policy actions differ from the code's:\n  extra {sorted(granted - iam_actions(ops) - kms)}"
          f"\n  missing {sorted(iam_actions(ops) - granted)}")
    reads = {"s3:ListBucket", "s3:GetObject", "kms:Decrypt"}
    check(actions_of(resume) == reads and not actions_of(policy) & reads,
          f"reading the destination is only in runner-policy-resume.json: {actions_of(resume)}")
    by_sid = {s["Sid"]: s for s in statements(raw)}
    org_st = [s for s in statements(raw) if any(a.startswith("organizations:") for a in as_list(s["Action"]))]
    check(len(org_st) == 1 and set(as_list(org_st[0]["Action"])) == org, "one statement with the Organizations reads")
    assume = [s for s in statements(raw) if "sts:AssumeRole" in as_list(s["Action"])]
    check(len(assume) == 1 and assume[0]["Resource"] == "arn:aws:iam::*:role/<ROLE_NAME>",
          f"sts:AssumeRole only on arn:aws:iam::*:role/<ROLE_NAME>: {assume}")
    check(assume[0].get("Condition") == {"StringEquals": {"aws:ResourceOrgID": "<ORG_ID>"}},
          f"sts:AssumeRole limited to the organization: {assume[0].get('Condition')}")
    puts = [s for s in statements(raw) if "s3:PutObject" in as_list(s["Action"])]
    check(len(puts) == 1 and puts[0]["Resource"] == "arn:aws:s3:::<BUCKET>/<PREFIX>/*", f"PutObject under the prefix: {puts}")
    kms = [s for s in statements(raw) if any(a.startswith("kms:") for a in as_list(s["Action"]))]
    check(len(kms) == 1 and kms[0]["Resource"] == "<KMS_KEY_ARN>", f"KMS on the key only: {kms}")
    sns = [s for s in statements(raw) if "sns:Publish" in as_list(s["Action"])]
    check(len(sns) == 1 and sns[0]["Resource"] == "<TOPIC_ARN>", f"Publish on the topic only: {sns}")
    locs = [s for s in statements(raw) if "s3:GetBucketLocation" in as_list(s["Action"])]
    check(len(locs) == 1 and locs[0]["Resource"] == "arn:aws:s3:::<BUCKET>", f"GetBucketLocation on the bucket only: {locs}")
    check("sts:GetCallerIdentity" not in granted, "GetCallerIdentity needs no permission")
    check(len(by_sid) == len(statements(raw)), "unique Sids")

    # The evaluator agrees: the role ARN credreport builds, in and out of the organization.
    role = f"arn:aws:iam::333333333333:role/{SAMPLE['ROLE_NAME']}"
    check(allows(policy, "sts:AssumeRole", role, {"aws:ResourceOrgID": SAMPLE["ORG_ID"]}), "assume the member role")
    check(not allows(policy, "sts:AssumeRole", role, {"aws:ResourceOrgID": "o-otherorg999"}), "not outside the org")
    check(not allows(policy, "sts:AssumeRole", "arn:aws:iam::333333333333:role/Admin", {"aws:ResourceOrgID": SAMPLE["ORG_ID"]}),
          "no other role")
    check(allows(policy, "s3:PutObject", f"arn:aws:s3:::{SAMPLE['BUCKET']}/{SAMPLE['PREFIX']}/2024-01-01/manifest-x.json"),
          "the manifest is under the prefix")
    check(not allows(policy, "s3:PutObject", f"arn:aws:s3:::{SAMPLE['BUCKET']}/elsewhere/x.csv"), "nothing outside the prefix")
    day = f"arn:aws:s3:::{SAMPLE['BUCKET']}/{SAMPLE['PREFIX']}/2024-01-01"
    check(allows(resume, "s3:GetObject", f"{day}/manifest-20240101T021500Z-0a1b2c3d.json"), "resume reads manifests")
    check(allows(resume, "s3:GetObject", f"{day}/credentialReport_333333333333.csv"),
          "and checks the reports they list (HeadObject)")
    bucket_arn = f"arn:aws:s3:::{SAMPLE['BUCKET']}"
    check(allows(resume, "s3:ListBucket", bucket_arn, {"s3:prefix": f"{SAMPLE['PREFIX']}/2024-01-01/"}), "lists the day")
    check(not allows(resume, "s3:ListBucket", bucket_arn, {"s3:prefix": "other/"}), "only under the prefix")

    # The delegated administrator's Organizations delegation: the same reads, nothing more.
    delegation = load_policy("organizations-delegation-policy.json", SAMPLE)
    check(actions_of(delegation) == org, f"delegation policy: {actions_of(delegation)}")
    # A runner in the management or delegated account reads the organization with them.
    bucket = load_policy("bucket-policy.json", SAMPLE)
    check(actions_of(bucket) == {"s3:PutObject", "s3:GetBucketLocation"},
          f"the bucket policy allows only PutObject, and GetBucketLocation for the preflight: {actions_of(bucket)}")
    key = load_policy("kms-key-policy.json", SAMPLE)
    runner_in_key = [s for s in statements(key) if s.get("Principal") == {"AWS": SAMPLE["RUNNER_PRINCIPAL_ARN"]}]
    check(len(runner_in_key) == 1 and as_list(runner_in_key[0]["Action"]) == ["kms:GenerateDataKey"],
          f"the key policy grants the runner kms:GenerateDataKey only: {runner_in_key}")
    topic = load_policy("topic-policy.json", SAMPLE)
    check({a.lower() for a in actions_of(topic)} == {"sns:publish", "sns:gettopicattributes"},
          f"topic policy: {actions_of(topic)}")


def test_resource_policies_enforce_what_the_guide_says(ctx):
    runner = SAMPLE["RUNNER_PRINCIPAL_ARN"]
    obj = f"arn:aws:s3:::{SAMPLE['BUCKET']}/{SAMPLE['PREFIX']}/2024-01-01/credentialReport_333333333333.csv"
    good = {"aws:SecureTransport": "true", "s3:x-amz-server-side-encryption": "aws:kms",
            "s3:x-amz-server-side-encryption-aws-kms-key-id": SAMPLE["KMS_KEY_ARN"]}
    bucket = load_policy("bucket-policy.json", SAMPLE)
    check(allows(bucket, "s3:PutObject", obj, good, runner), "the runner writes reports with TLS and the key")
    check(not allows(bucket, "s3:PutObject", obj, dict(good, **{"aws:SecureTransport": "false"}), runner), "TLS required")
    check(not allows(bucket, "s3:PutObject", obj, {"aws:SecureTransport": "true"}, runner), "SSE-KMS required")
    other_key = dict(good, **{"s3:x-amz-server-side-encryption-aws-kms-key-id": "alias/credreport"})
    check(not allows(bucket, "s3:PutObject", obj, other_key, runner), "only the key ARN")
    check(not allows(bucket, "s3:PutObject", obj, good, "arn:aws:iam::999999999999:role/x"), "only the runner")
    check(not allows(bucket, "s3:PutObject", f"arn:aws:s3:::{SAMPLE['BUCKET']}/other/x", good, runner), "only the prefix")
    check(not allows(bucket, "s3:GetObject", obj, good, runner), "the runner cannot read")
    merged = {"Version": "2012-10-17",
              "Statement": statements(bucket) + statements(load_policy("bucket-policy-resume.json", SAMPLE))}
    check_policy_grammar(merged, "bucket-policy.json + bucket-policy-resume.json")
    manifest = obj.rsplit("/", 1)[0] + "/manifest-20240101T021500Z-0a1b2c3d.json"
    tls = {"aws:SecureTransport": "true"}
    check(allows(merged, "s3:GetObject", manifest, tls, runner), "with resume: the runner reads manifests")
    check(allows(merged, "s3:GetObject", obj, tls, runner), "and checks the reports (HeadObject)")
    check(allows(merged, "s3:ListBucket", f"arn:aws:s3:::{SAMPLE['BUCKET']}", dict(tls, **{"s3:prefix": SAMPLE["PREFIX"] + "/"}), runner),
          "and lists under the prefix")
    check(allows(merged, "s3:PutObject", obj, good, runner) and not allows(merged, "s3:PutObject", obj, tls, runner),
          "the merged policy still enforces SSE-KMS on uploads")

    key = load_policy("kms-key-policy.json", SAMPLE)
    via = {"kms:ViaService": f"s3.{SAMPLE['BUCKET_REGION']}.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": obj}
    check(allows(key, "kms:GenerateDataKey", "*", via, runner), "data keys for report objects through S3")
    bucket_key = dict(via, **{"kms:EncryptionContext:aws:s3:arn": f"arn:aws:s3:::{SAMPLE['BUCKET']}"})
    check(allows(key, "kms:GenerateDataKey", "*", bucket_key, runner), "and with an S3 Bucket Key")
    check(not allows(key, "kms:GenerateDataKey", "*", dict(via, **{"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}), runner),
          "only through S3")
    check(not allows(key, "kms:Decrypt", "*", via, runner), "the runner cannot decrypt")
    key_resume = load_policy("kms-key-policy-resume.json", SAMPLE)
    manifest_ctx = dict(via, **{"kms:EncryptionContext:aws:s3:arn": manifest})
    check(allows(key_resume, "kms:Decrypt", "*", manifest_ctx, runner), "with resume: decrypt manifests")
    check(allows(key_resume, "kms:Decrypt", "*", via, runner), "and the reports' stored checksums")
    check(not allows(key_resume, "kms:Decrypt", "*", dict(via, **{"kms:ViaService": "sqs.eu-west-1.amazonaws.com"}), runner),
          "only through S3")
    admin = f"arn:aws:iam::{SAMPLE['SECURITY_ACCOUNT_ID']}:root"
    check(any(s.get("Principal") == {"AWS": admin} and s["Action"] == "kms:*" for s in statements(key)),
          "the key account keeps control of its key")

    topic = load_policy("topic-policy.json", SAMPLE)
    check(allows(topic, "sns:Publish", SAMPLE["TOPIC_ARN"], {"aws:SecureTransport": "true"}, runner), "publish")
    check(not allows(topic, "sns:Publish", SAMPLE["TOPIC_ARN"], {"aws:SecureTransport": "false"}, runner), "TLS")

    irsa = load_policy("runner-trust-irsa.json", SAMPLE)
    provider = f"arn:aws:iam::{SAMPLE['RUNNER_ACCOUNT_ID']}:oidc-provider/{SAMPLE['OIDC_PROVIDER']}"
    sa = {f"{SAMPLE['OIDC_PROVIDER']}:sub": "system:serviceaccount:credreport:credreport",
          f"{SAMPLE['OIDC_PROVIDER']}:aud": "sts.amazonaws.com"}
    check(allows(irsa, "sts:AssumeRoleWithWebIdentity", ctx=sa, principal=provider), "the service account")
    other = dict(sa, **{f"{SAMPLE['OIDC_PROVIDER']}:sub": "system:serviceaccount:default:default"})
    check(not allows(irsa, "sts:AssumeRoleWithWebIdentity", ctx=other, principal=provider), "no other service account")


def test_cloudformation_member_role_template(ctx):
    text = (IAM / "member-role.yaml").read_text()
    member = load_policy("member-role-permissions.json", SAMPLE)
    # Structural checks that need no YAML parser.
    for needle in ("AWSTemplateFormatVersion", "Type: AWS::IAM::Role", "RoleName:", "RunnerPrincipalArn:",
                   "ExternalId:", "HasExternalId", "sts:ExternalId", "AWS::NoValue", "sts:AssumeRole"):
        check(needle in text, f"member-role.yaml: {needle} missing")
    check(set(re.findall(r"\biam:\w+", text)) == actions_of(member), "the template grants the member policy's actions")
    if yaml is None:
        print("     (no PyYAML: member-role.yaml checked structurally only)")
        return
    tpl = cfn_yaml(text)
    check(tpl["AWSTemplateFormatVersion"] == "2010-09-09", "template version")
    params = tpl["Parameters"]
    check(set(params) == {"RoleName", "RunnerPrincipalArn", "ExternalId"}, f"parameters: {set(params)}")
    check(params["ExternalId"].get("Default") == "", "ExternalId is optional (empty default)")
    check(params["RoleName"].get("Default") == SAMPLE["ROLE_NAME"], "RoleName default as in the guide")
    pattern = {k: re.compile(v["AllowedPattern"]) for k, v in params.items()}
    for name, good, bad in (("RoleName", ["CredReportMemberRole", "a+b=c,d.e@f_g-h"], ["", "x" * 65, "a/b"]),
                            ("RunnerPrincipalArn", [SAMPLE["RUNNER_PRINCIPAL_ARN"], "arn:aws:iam::111111111111:user/ci",
                                                    "arn:aws-us-gov:iam::111111111111:role/path/r"],
                             ["111111111111", "arn:aws:sts::111111111111:assumed-role/r/s"]),
                            ("ExternalId", ["", SAMPLE["EXTERNAL_ID"], "a" * 1224], ["x", "a" * 1225, "has space"])):
        for v in good:
            check(pattern[name].fullmatch(v), f"{name} AllowedPattern should accept {v[:40]!r}")
        for v in bad:
            check(not pattern[name].fullmatch(v), f"{name} AllowedPattern should refuse {v[:40]!r}")
    check(tpl["Conditions"]["HasExternalId"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExternalId"}, ""]}]},
          f"HasExternalId: {tpl['Conditions']}")
    resources = tpl["Resources"]
    check(len(resources) == 1, f"one resource: {list(resources)}")
    role = next(iter(resources.values()))
    check(role["Type"] == "AWS::IAM::Role", "an IAM role")
    props = role["Properties"]
    check(props["RoleName"] == {"Ref": "RoleName"}, "RoleName from the parameter")
    trust = props["AssumeRolePolicyDocument"]
    check(trust["Version"] == "2012-10-17" and len(trust["Statement"]) == 1, "one trust statement")
    st = trust["Statement"][0]
    check(st["Effect"] == "Allow" and st["Action"] == "sts:AssumeRole" and st["Principal"] == {"AWS": {"Ref": "RunnerPrincipalArn"}},
          f"trust only the runner principal: {st}")
    check(st["Condition"] == {"Fn::If": ["HasExternalId", {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}},
                                         {"Ref": "AWS::NoValue"}]}, f"external id condition: {st['Condition']}")
    policies = props["Policies"]
    check(len(policies) == 1, "one inline policy")
    doc = policies[0]["PolicyDocument"]
    check_policy_grammar(doc, "member-role.yaml inline policy")
    check(actions_of(doc) == actions_of(member) and all(s["Resource"] == "*" for s in doc["Statement"]),
          "the inline policy is member-role-permissions.json")
    # The trust with the condition resolved both ways equals the JSON trust documents.
    for with_id, name in ((False, "member-role-trust.json"), (True, "member-role-trust-external-id.json")):
        want = statements(load_policy(name, SAMPLE))[0]
        got = {"Effect": st["Effect"], "Principal": {"AWS": SAMPLE["RUNNER_PRINCIPAL_ARN"]}, "Action": st["Action"]}
        if with_id:
            got["Condition"] = {"StringEquals": {"sts:ExternalId": SAMPLE["EXTERNAL_ID"]}}
        check({k: v for k, v in want.items() if k != "Sid"} == got, f"{name} and the template's trust differ")
    lint = shutil.which("cfn-lint")
    if lint and subprocess.run([lint, "--version"], capture_output=True).returncode == 0:
        proc = subprocess.run([lint, str(IAM / "member-role.yaml")], capture_output=True, text=True, timeout=300)
        # Exit status bits: 2 errors, 4 warnings, 8 informational; only errors fail.
        check(proc.returncode & ~(4 | 8) == 0, f"cfn-lint:\n{proc.stdout}{proc.stderr}")


def test_crontab_line_runs_as_written(ctx):
    text = (SCHED / "crontab").read_text()
    env, jobs = {}, []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if m:
            env[m.group(1)] = m.group(2)
        else:
            jobs.append(line)
    check(len(jobs) == 1, f"one job line: {jobs}")
    fields = jobs[0].split(None, 5)
    check(len(fields) == 6, f"five time fields and a command: {jobs[0]}")
    check(fields[:5] == ["15", "2", "*", "*", "*"], f"02:15 every day: {fields[:5]}")
    check(env.get("CRON_TZ") == "UTC", "CRON_TZ=UTC")
    check("PATH" in env and all(p.startswith("/") for p in env["PATH"].split(":")), f"absolute PATH: {env.get('PATH')}")
    command = fields[5]
    check("%" not in command, "an unescaped % ends a cron command")
    argv = command.split()
    check(argv[0].startswith("/") and argv[0].endswith("/credreport"), f"absolute binary path: {argv[0]}")
    check(argv[1] == "run" and "--config" in argv and argv[argv.index("--config") + 1].startswith("/"),
          f"explicit absolute config path: {command}")
    log = re.search(r">>\s*(/\S+)", command)
    check(log and "2>&1" in command, f"appends stdout and stderr to a log file: {command}")

    # Run the line with sh, the crontab's variables, and the paths moved into the temp folder:
    # without AWS it ends with status 3, logged, and the failure line on stdout for cron's mail.
    etc = ctx.tmp / "etc"
    (etc / "aws").mkdir(parents=True)
    (etc / "config.ini").write_text("[aws]\nmax_attempts = 1\nconnect_timeout = 2\n")
    (etc / "aws" / "credentials").write_text(
        "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
    (etc / "aws" / "config").write_text("")
    logfile = ctx.tmp / "credreport.log"
    moved = command.replace(argv[0], ctx.binary).replace("/etc/credreport", str(etc)).replace(log.group(1), str(logfile))
    run_env = {k: v.replace("/etc/credreport", str(etc)) for k, v in env.items() if k not in ("CRON_TZ", "MAILTO", "SHELL")}
    run_env["PATH"] = run_env["PATH"] + ":" + os.environ.get("PATH", "")
    base = ctx.aws_env(None)
    for k in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        base.pop(k, None)
    base.update(run_env)
    base["XDG_RUNTIME_DIR"] = str(ctx.tmp)  # the run lock, away from other runs on this machine
    proc = subprocess.run([env.get("SHELL", "/bin/sh"), "-c", moved], env=base, capture_output=True, text=True, timeout=120)
    check(proc.returncode == 0, f"the line itself succeeds after reporting: {proc.returncode} {proc.stderr}")
    check("status 3" in proc.stdout, f"the failure is reported for cron's mail: {proc.stdout!r}")
    logged = logfile.read_text()
    check("cannot list the accounts" in logged or "could not be listed" in logged or "credreport" in logged,
          f"the log file has the run's output:\n{logged[-2000:]}")
    check("configuration errors" not in logged, logged[-2000:])


def test_systemd_units(ctx):
    service = (SCHED / "credreport.service").read_text()
    timer = (SCHED / "credreport.timer").read_text()

    def settings(text):
        out = {}
        for line in text.splitlines():
            m = re.match(r"([A-Za-z]+)=(.*)$", line)
            if m:
                out.setdefault(m.group(1), []).append(m.group(2))
        return out

    s, t = settings(service), settings(timer)
    expect = {"Type": "oneshot", "User": "credreport", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
              "PrivateTmp": "yes", "ProtectHome": "yes"}
    for k, v in expect.items():
        check(s.get(k) == [v], f"credreport.service: {k}={v} (got {s.get(k)})")
    check(s.get("ReadWritePaths"), "credreport.service: ReadWritePaths for the reports folder")
    stop = re.fullmatch(r"(\d+)s?", s.get("TimeoutStopSec", ["90"])[0])
    check(stop and int(stop.group(1)) > grace_period(), "TimeoutStopSec leaves credreport its [run] grace_period")
    exec_start = s["ExecStart"][0].split()
    check(exec_start[0].startswith("/") and "run" in exec_start and "--config" in exec_start
          and exec_start[exec_start.index("--config") + 1].startswith("/"), f"ExecStart: {exec_start}")
    check(t.get("Persistent") == ["true"] and t.get("RandomizedDelaySec"), "credreport.timer: Persistent, RandomizedDelaySec")
    check(t.get("OnCalendar") == ["*-*-* 02:15:00 UTC"], f"02:15 UTC: {t.get('OnCalendar')}")
    check(t.get("Unit") in (None, ["credreport.service"]) and t.get("WantedBy") == ["timers.target"], "timer target")

    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("     (no systemd-analyze: units checked structurally only)")
        return
    units = ctx.tmp / "units"
    units.mkdir()
    # verify wants ExecStart's binary to exist: point it at the binary under test.
    (units / "credreport.service").write_text(service.replace(exec_start[0], ctx.binary))
    (units / "credreport.timer").write_text(timer)
    proc = subprocess.run([analyze, "verify", str(units / "credreport.service"), str(units / "credreport.timer")],
                          capture_output=True, text=True, timeout=120)
    complaints = [l for l in (proc.stdout + proc.stderr).splitlines() if str(units) in l or "credreport" in l]
    check(proc.returncode == 0 and not complaints, f"systemd-analyze verify:\n{proc.stdout}{proc.stderr}")
    proc = subprocess.run([analyze, "calendar", t["OnCalendar"][0]], capture_output=True, text=True, timeout=60)
    check(proc.returncode == 0 and "02:15:00 UTC" in proc.stdout, f"systemd-analyze calendar:\n{proc.stdout}{proc.stderr}")


def grace_period():
    m = re.search(r"^;?grace_period\s*=\s*(\d+)", (ROOT / "config.ini").read_text(), re.M)
    check(m, "config.ini documents [run] grace_period")
    return int(m.group(1))


def test_kubernetes_manifests(ctx):
    text = (SCHED / "cronjob.yaml").read_text()
    for needle in ('schedule: "15 2 * * *"', "concurrencyPolicy: Forbid", "restartPolicy: Never", "backoffLimit:",
                   "eks.amazonaws.com/role-arn:", "mountPath: /etc/credreport", "kind: CronJob", "kind: ConfigMap",
                   "kind: ServiceAccount", "timeZone: Etc/UTC", "resources:", "terminationGracePeriodSeconds:"):
        check(needle in text, f"cronjob.yaml: {needle} missing")
    config = block_scalar(text, r"^\s*config\.ini:")
    check("[output]" in config, "ConfigMap config.ini found")
    check_config_accepted(ctx, config, "cronjob.yaml ConfigMap")
    irsa = load_policy("runner-trust-irsa.json", SAMPLE)
    sub = [v for st in statements(irsa) for block in st["Condition"].values()
           for k, v in block.items() if k.endswith(":sub")]
    check(len(sub) == 1, f"the IRSA trust names one service account: {sub}")
    _, _, namespace, account = sub[0].split(":")
    if yaml is None:
        check(f"namespace: {namespace}" in text and f"serviceAccountName: {account}" in text,
              "the IRSA trust's service account is the one in cronjob.yaml")
        print("     (no PyYAML: cronjob.yaml checked structurally only)")
        return
    docs = [d for d in yaml.safe_load_all(text) if d]
    kinds = {d["kind"]: d for d in docs}
    check(set(kinds) == {"Namespace", "ServiceAccount", "ConfigMap", "CronJob"}, f"kinds: {list(kinds)}")
    sa, cm, cj = kinds["ServiceAccount"], kinds["ConfigMap"], kinds["CronJob"]
    check(cm["data"]["config.ini"] == config, "the text extractor reads the ConfigMap as YAML does")
    check(sa["metadata"]["name"] == account and sa["metadata"]["namespace"] == namespace == cj["metadata"]["namespace"]
          == cm["metadata"]["namespace"], f"the IRSA trust's system:serviceaccount:{namespace}:{account} is the manifest's")
    check("eks.amazonaws.com/role-arn" in sa["metadata"].get("annotations", {}), "IRSA annotation")
    spec = cj["spec"]
    check(spec["schedule"] == "15 2 * * *" and spec["timeZone"] == "Etc/UTC", "02:15 UTC")
    check(spec["concurrencyPolicy"] == "Forbid", "concurrencyPolicy Forbid")
    job = spec["jobTemplate"]["spec"]
    check(isinstance(job.get("backoffLimit"), int), "backoffLimit")
    rules = job["podFailurePolicy"]["rules"]
    check(any(r["action"] == "FailJob" and r.get("onExitCodes", {}).get("values") == [1, 2]
              and r["onExitCodes"]["operator"] == "In" and r["onExitCodes"].get("containerName") == "credreport"
              for r in rules), f"exit 1 and 2 fail the Job at once: {rules}")
    pod = job["template"]["spec"]
    check(pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == account, "restartPolicy Never, the service account")
    check(pod["securityContext"].get("runAsNonRoot") is True, "non-root")
    check(pod.get("terminationGracePeriodSeconds", 30) > grace_period(),
          "the pod's termination grace period leaves credreport its [run] grace_period")
    containers = {c["name"]: c for c in pod["containers"]}
    main = containers.get("credreport")
    check(main and len(containers) == 1 and not pod.get("initContainers"), "one container, credreport (IRSA needs no helper)")
    check(main["args"][:1] == ["run"] and main["args"][main["args"].index("--config") + 1] == "/etc/credreport/config.ini",
          f"config path explicit: {main['args']}")
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in main["volumeMounts"]}
    check(volumes[mounts["/etc/credreport"]["name"]].get("configMap", {}).get("name") == cm["metadata"]["name"],
          "the ConfigMap is mounted at /etc/credreport")
    r = main.get("resources", {})
    check(r.get("requests") and r.get("limits"), "resource requests and limits")
    sc = main.get("securityContext", {})
    check(sc.get("allowPrivilegeEscalation") is False and sc.get("readOnlyRootFilesystem") is True, "hardened securityContext")
    check(not any(e["name"].startswith("AWS_ACCESS_KEY") for e in main.get("env", [])), "no static keys in the pod")


def test_guide_is_consistent_with_the_code(ctx):
    guide = GUIDE.read_text()
    # Every file it links exists, and every file under docs/iam and docs/scheduling is described.
    for link in re.findall(r"\]\(((?:iam|scheduling)/[^)#]+)\)", guide):
        check((DOCS / link).exists(), f"deploy.md links a missing file: {link}")
    for path in sorted(IAM.iterdir()) + sorted(SCHED.iterdir()):
        rel = path.relative_to(DOCS).as_posix()
        check(rel in guide, f"deploy.md does not mention {rel}")
    # Every [section] key it names is a setting of config.ini.
    keys = config_keys()
    named = set(re.findall(r"`\[(\w+)\] (\w+)", guide))
    check(named, "the guide names settings as `[section] key`")
    for section, key in named:
        check((section, key) in keys, f"deploy.md names [{section}] {key}, which config.ini does not have")
    # The exit statuses are credreport's.
    help_text = run_credreport(ctx, ["--help"], check_status=0).stdout
    statuses = dict(re.findall(r"^  (\d+(?:, \d+)*)  +(\S.*)$", help_text.split("Exit status:")[1], re.M))
    table = dict(re.findall(r"^\| (\d+(?:, \d+)*) \| ([^|]+)\|", guide, re.M))
    check(set(statuses) == set(table) and {"0", "1", "2", "3"} <= set(table),
          f"exit statuses: help {statuses} guide {table}")
    for code in statuses:
        words = set(re.findall(r"[a-z]{4,}", statuses[code].lower())) - {"some", "every", "could", "otherwise"}
        check(words & set(re.findall(r"[a-z]{4,}", table[code].lower())), f"status {code}: {statuses[code]!r} vs {table[code]!r}")
    # Its config examples are accepted by credreport; AWS shared files parse.
    blocks = fenced(guide, "ini")
    check(blocks, "the guide shows config examples")
    for i, block in enumerate(blocks):
        if re.search(r"^\[(aws|accounts|output|notify|log|report|run|endpoints)\]", block, re.M):
            check_config_accepted(ctx, block, f"deploy.md ini block {i + 1}")
        else:
            cp = configparser.ConfigParser()
            cp.read_string(block)
            check(cp.sections(), f"deploy.md ini block {i + 1} has no section")
    # Every AWS_* variable the guide's credentials section names is one the C core reads.
    section = guide[guide.index("## 6. Credentials on the host"):guide.index("## 7.")]
    core_text = "".join(p.read_text() for p in sorted((ROOT / "core").glob("*.c")))
    for var in sorted(set(re.findall(r"\b(AWS_[A-Z0-9_]+)\b", section))):
        check(f'"{var}"' in core_text, f"deploy.md says credreport reads {var}, but core/*.c never names it")
    for key in ("credential_process", "credential_source", "web_identity_token_file", "source_profile", "role_arn"):
        check(f'"{key}"' in core_text, f"deploy.md says credreport understands {key}, but core/*.c never names it")
    # The runner policy's Organizations table lists exactly the code's calls.
    org = {op for op in code_operations()["organizations"]}
    listed = set(re.findall(r"^\| `organizations:(\w+)` \|", guide, re.M))
    check(listed == org, f"the guide's Organizations table {sorted(listed)} vs the code {sorted(org)}")


# ---------------------------------------------------------------------------------------
# A run against the emulator, every request checked against the documented policies

def _principal_role(arn):
    """arn:aws:sts::ACCT:assumed-role/ROLE/SESSION -> arn:aws:iam::ACCT:role/ROLE."""
    m = re.fullmatch(r"arn:aws:sts::(\d{12}):assumed-role/(.+)/[^/]+", arn or "")
    return f"arn:aws:iam::{m.group(1)}:role/{m.group(2)}" if m else arn


def test_runs_need_nothing_beyond_the_documented_policies(ctx):
    fixture = json.loads(FIXTURE.read_text())
    runner = SAMPLE["RUNNER_PRINCIPAL_ARN"]
    mgmt = fixture["management_account_id"]
    web = fixture["web_identity_tokens"][0]
    check(web["role_arn"] == runner, "the sample runner is the fixture's web identity role")
    # The member role under the guide's name; the bucket and topic of the ConfigMap, owned by
    # the security account and shared with the management account as their policies do.
    fixture["default_role_name"] = SAMPLE["ROLE_NAME"]
    security = SAMPLE["SECURITY_ACCOUNT_ID"]
    fixture["buckets"].append({"name": SAMPLE["BUCKET"], "owner": security, "region": SAMPLE["BUCKET_REGION"],
                               "grants": [mgmt], "object_ownership": "BucketOwnerEnforced",
                               "default_encryption": {"algorithm": "aws:kms", "kms_key_id": SAMPLE["KMS_KEY_ARN"],
                                                      "bucket_key_enabled": True},
                               "required_sse": "aws:kms"})
    fixture["topics"].append({"arn": SAMPLE["TOPIC_ARN"], "publishers": [mgmt]})
    path = ctx.tmp / "fixture.json"
    path.write_text(json.dumps(fixture))
    failing = "333333333333"
    emu = ctx.emulator(path, faults={"rules": [
        {"type": "fail", "service": "iam", "action": "GenerateCredentialReport", "account": failing,
         "status": 403, "code": "AccessDenied", "message": "denied by an SCP (test)"}]})

    # IRSA, as the pod identity webhook sets it up for the CronJob's service account.
    token = ctx.tmp / "token"
    token.write_text(web["token"])
    env = ctx.aws_env(emu, AWS_ROLE_ARN=runner, AWS_WEB_IDENTITY_TOKEN_FILE=str(token),
                      AWS_ROLE_SESSION_NAME="credreport")
    # The ConfigMap's config.ini with quicker polling; then scoped by OU and tag (the two
    # Organizations calls only those settings make); then a re-run with --resume.
    config = block_scalar((SCHED / "cronjob.yaml").read_text(), r"^\s*config\.ini:")
    fast = "\n[report]\nwait_interval = 0.05\nwait_growth = 1.5\nmax_wait = 0.3\n"
    scoped = config.replace("[accounts]\n", "[accounts]\nous = ou-ex12-workload\ntags = owner=team-a\n", 1)
    check(scoped != config, "the ConfigMap has an [accounts] section")
    for i, (cfg, args) in enumerate(((config, []), (scoped, []), (config, ["--resume"]))):
        cfg_path = ctx.tmp / f"config-{i}.ini"
        cfg_path.write_text(cfg + fast)
        proc = run_credreport(ctx, ["run", "--config", str(cfg_path), "--lock-file", str(ctx.tmp / "lock")] + args,
                              env=env, cwd=ctx.tmp)
        check(proc.returncode == 1, f"run {i + 1}: one account fails (exit 1), got {proc.returncode}\n"
                                    f"{proc.stdout}\n{proc.stderr[-3000:]}")
        check(f"failed {failing}" in proc.stdout, f"run {i + 1}: {failing} reported failed\n{proc.stdout}")
    check("delivered earlier today" in proc.stdout, f"the resumed run skipped delivered accounts:\n{proc.stdout}")
    objects = {o["key"]: o for o in emu.admin("GET", f"/s3/objects?bucket={SAMPLE['BUCKET']}")["objects"]}
    check(any(k.endswith("credentialReport_444444444444.csv") for k in objects)
          and any(re.search(r"/manifest-.*\.json$", k) for k in objects), f"reports and manifests written: {list(objects)}")
    messages = emu.admin("GET", "/sns/messages")["messages"]
    check(any(m["topic_arn"] == SAMPLE["TOPIC_ARN"] for m in messages), "the failure was published")

    runner_policy = load_policy("runner-policy.json", SAMPLE)
    resume_policy = load_policy("runner-policy-resume.json", SAMPLE)
    identity = {"Version": "2012-10-17", "Statement": statements(runner_policy) + statements(resume_policy)}
    member_policy = load_policy("member-role-permissions.json", SAMPLE)
    trust = load_policy("member-role-trust.json", SAMPLE)
    bucket_policy = {"Version": "2012-10-17", "Statement": statements(load_policy("bucket-policy.json", SAMPLE))
                     + statements(load_policy("bucket-policy-resume.json", SAMPLE))}
    key_policy = {"Version": "2012-10-17", "Statement": statements(load_policy("kms-key-policy.json", SAMPLE))
                  + statements(load_policy("kms-key-policy-resume.json", SAMPLE))}
    topic_policy = load_policy("topic-policy.json", SAMPLE)
    member_role = re.compile(r"arn:aws:iam::(\d{12}):role/" + re.escape(SAMPLE["ROLE_NAME"]))
    org_accounts = {a["id"] for a in fixture["accounts"]}
    via_s3 = f"s3.{SAMPLE['BUCKET_REGION']}.amazonaws.com"
    used = {"runner": set(), "member": set()}

    def kms_through_s3(kms_action, obj, bucket_key):
        context = f"arn:aws:s3:::{obj['bucket']}" if bucket_key else f"arn:aws:s3:::{obj['bucket']}/{obj['key']}"
        kctx = {"kms:ViaService": via_s3, "kms:EncryptionContext:aws:s3:arn": context}
        key = obj.get("kms_key_id") or SAMPLE["KMS_KEY_ARN"]
        check(allows(identity, kms_action, key, kctx), f"runner policy: {kms_action} for {obj['key']}")
        check(allows(key_policy, kms_action, "*", kctx, runner), f"key policy: {kms_action} for {obj['key']}")
        used["runner"].add(kms_action)

    manifest_dirs = sorted({k.rsplit("/", 1)[0] for k in objects if re.search(r"/manifest-[^/]+\.json$", k)})
    check(len(manifest_dirs) == 1, f"the manifests of one day: {manifest_dirs}")
    requests = emu.requests()["requests"]
    check(requests, "the emulator logged the requests")
    for r in requests:
        if r["service"] == "sts" and r["action"] == "AssumeRoleWithWebIdentity":
            continue  # unsigned: the service account's token, allowed by runner-trust-irsa.json
        principal = _principal_role(r.get("principal"))
        action = f"{r['service']}:{r['action']}"
        where = f"{action} by {principal} ({r.get('path')})"
        params = r.get("params") or {}
        if principal == runner:
            if action == "sts:GetCallerIdentity":
                continue
            ctx_keys = {"aws:SecureTransport": "true"}
            resource = "*"
            policy = identity
            if action == "sts:AssumeRole":
                resource = params["RoleArn"]
                m = member_role.fullmatch(resource)
                check(m, f"assumes only the member role: {resource}")
                if m.group(1) in org_accounts:
                    ctx_keys["aws:ResourceOrgID"] = fixture["organization_id"]
                ext = {"sts:ExternalId": params["ExternalId"]} if params.get("ExternalId") else {}
                check(allows(trust, action, ctx=ext, principal=runner), f"member trust policy: {where}")
            elif r["service"] == "s3":
                h = r.get("headers", {})
                if r["action"] == "PutObject":
                    action, resource = "s3:PutObject", f"arn:aws:s3:::{r['bucket']}/{r['key']}"
                    ctx_keys.update({k: h[n] for k, n in (
                        ("s3:x-amz-server-side-encryption", "x-amz-server-side-encryption"),
                        ("s3:x-amz-server-side-encryption-aws-kms-key-id", "x-amz-server-side-encryption-aws-kms-key-id"))
                        if h.get(n)})
                    if h.get("x-amz-server-side-encryption") == "aws:kms":
                        kms_through_s3("kms:GenerateDataKey", {"bucket": r["bucket"], "key": r["key"],
                                                               "kms_key_id": h.get("x-amz-server-side-encryption-aws-kms-key-id")},
                                       h.get("x-amz-server-side-encryption-bucket-key-enabled") == "true")
                elif r["action"] == "ListObjectsV2":
                    # The emulator does not log the query: resume lists the day's folder of
                    # the manifests (lua/credreport/delivery.lua, list()).
                    action, resource = "s3:ListBucket", f"arn:aws:s3:::{r['bucket']}"
                    ctx_keys["s3:prefix"] = manifest_dirs[0] + "/"
                elif r["action"] == "GetBucketLocation":
                    action, resource = "s3:GetBucketLocation", f"arn:aws:s3:::{r['bucket']}"
                elif r["action"] in ("GetObject", "HeadObject"):
                    action, resource = "s3:GetObject", f"arn:aws:s3:::{r['bucket']}/{r['key']}"
                    obj = objects.get(r["key"])
                    check(obj, f"reads an object that exists: {where}")
                    if obj.get("sse") == "aws:kms":
                        kms_through_s3("kms:Decrypt", obj, obj.get("bucket_key_enabled"))
                else:
                    raise AssertionError(f"an S3 call the guide does not cover: {where}")
                check(allows(bucket_policy, action, resource, ctx_keys, runner), f"bucket policy: {where} {ctx_keys}")
            elif action in ("sns:Publish", "sns:GetTopicAttributes"):
                resource = params["TopicArn"]
                check(allows(topic_policy, action, resource, ctx_keys, runner), f"topic policy: {where}")
            check(allows(policy, action, resource, ctx_keys), f"runner policy does not allow {where} on {resource}")
            used["runner"].add(action)
        elif principal and member_role.fullmatch(principal):
            check(allows(member_policy, action), f"member role policy does not allow {where}")
            used["member"].add(action)
        else:
            raise AssertionError(f"a request by an unexpected principal: {where}")
    # And nothing granted that the runs did not use.
    check(used["runner"] == actions_of(identity),
          f"runner policies vs the runs: unused {sorted(actions_of(identity) - used['runner'])}, "
          f"missing {sorted(used['runner'] - actions_of(identity))}")
    check(used["member"] == actions_of(member_policy), f"member role vs the runs: {sorted(used['member'])}")
