"""The deployment guide (docs/deploy.md), its IAM documents (docs/iam) and its scheduling
recipes (docs/scheduling), checked against the code: valid policy grammar, exactly the AWS
actions the Lua code calls, a CloudFormation template and Kubernetes manifests with the
settings the guide promises, systemd units that systemd-analyze accepts, a crontab line that
cron and sh understand, and runs against the emulator (IRSA credentials and the settings of
the Kubernetes recipe) whose every request the documented policies allow, through a small
evaluator of the IAM policy language. Also the build the Containerfile relies on: the static
lua-cjson archive of the architecture being built for."""
import base64
import configparser
import hashlib
import fnmatch
import json
import os
import re
import shlex
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
    "EKS_CLUSTER_ARN": "arn:aws:eks:eu-west-1:111111111111:cluster/security-tools",
}
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)>")

# Condition keys the documents may use: each is documented by AWS for the action it guards.
KNOWN_CONDITION_KEYS = {
    "aws:resourceorgid", "aws:resourceorgpaths", "aws:principalorgid", "aws:securetransport",
    "kms:viaservice", "kms:encryptioncontext:aws:s3:arn", "kms:calleraccount",
    "s3:x-amz-server-side-encryption", "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-acl", "s3:prefix", "sts:externalid",
    # the session tags EKS Pod Identity passes when it assumes a role for a pod
    "aws:requesttag/eks-cluster-arn", "aws:requesttag/kubernetes-namespace",
    "aws:requesttag/kubernetes-service-account",
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
    # The examples are scripts an operator may choose, with permissions of their own.
    sources = sorted(p for d in ("credreport", "workflows") for p in (ROOT / "lua" / d).rglob("*.lua"))
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
            dynamic = re.findall(r'[:.]json\(\s*(?!")[^)]*', text) + re.findall(r'[:.]json\(\s*"\w+"\s*,\s*(?![\s"])[^)]*', text)
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
        if p != "*" and principal not in as_list(p.get("AWS", [])) + as_list(p.get("Federated", [])) \
                + as_list(p.get("Service", [])):
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


def failing_fast(text):
    """The settings with those that make a run without AWS fail at once: one attempt a call,
    and a second for the checks before the run to keep trying (they wait out outages)."""
    for section, lines in (("[aws]", "max_attempts = 1\nconnect_timeout = 2"), ("[run]", "discovery_timeout = 1")):
        text = text.replace(section, f"{section}\n{lines}", 1) if section in text else f"{text}\n{section}\n{lines}\n"
    return text


def check_config_accepted(ctx, text, where):
    """credreport accepts the settings: a dry run gets past the configuration (status 2 is a
    configuration error) and fails only for want of AWS (status 3)."""
    path = ctx.tmp / f"check-{abs(hash(text))}.ini"
    path.write_text(failing_fast(text))
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

    # EKS Pod Identity: the service assumes the role with session tags naming the cluster,
    # namespace and service account of the pod; the trust accepts only the CronJob's.
    pod_identity = load_policy("runner-trust-pod-identity.json", SAMPLE)
    _, _, namespace, account = sa[f"{SAMPLE['OIDC_PROVIDER']}:sub"].split(":")  # the CronJob's, as for IRSA
    check(actions_of(pod_identity) == {"sts:AssumeRole", "sts:TagSession"}, "AssumeRole and TagSession, as EKS needs")
    tags = {"aws:RequestTag/eks-cluster-arn": SAMPLE["EKS_CLUSTER_ARN"],
            "aws:RequestTag/kubernetes-namespace": namespace, "aws:RequestTag/kubernetes-service-account": account,
            "aws:RequestTag/kubernetes-pod-name": "credreport-29000000-abcde"}
    eks = "pods.eks.amazonaws.com"
    for action in ("sts:AssumeRole", "sts:TagSession"):
        check(allows(pod_identity, action, ctx=tags, principal=eks), f"Pod Identity: {action} for the CronJob's pods")
        for key, value in (("kubernetes-namespace", "default"), ("kubernetes-service-account", "default"),
                           ("eks-cluster-arn", "arn:aws:eks:eu-west-1:111111111111:cluster/other")):
            check(not allows(pod_identity, action, ctx=dict(tags, **{f"aws:RequestTag/{key}": value}), principal=eks),
                  f"Pod Identity: not with {key} = {value}")
        untagged = {k: v for k, v in tags.items() if "kubernetes-pod-name" in k}
        check(not allows(pod_identity, action, ctx=untagged, principal=eks),
              "Pod Identity: not without the session tags (an association with session tags disabled)")
        check(not allows(pod_identity, action, ctx=tags, principal="ec2.amazonaws.com"), "only EKS Pod Identity")


def test_cloudformation_member_role_template(ctx):
    text = (IAM / "member-role.yaml").read_text()
    member = load_policy("member-role-permissions.json", SAMPLE)
    # Structural checks that need no YAML parser.
    for needle in ("AWSTemplateFormatVersion", "Type: AWS::IAM::Role", "RoleName:", "RunnerPrincipalArn:",
                   "ExternalId:", "HasExternalId", "sts:ExternalId", "AWS::NoValue", "sts:AssumeRole", "RolePath:",
                   "Path: !Ref RolePath"):
        check(needle in text, f"member-role.yaml: {needle} missing")
    check(set(re.findall(r"\biam:\w+", text)) == actions_of(member), "the template grants the member policy's actions")
    if yaml is None:
        print("     (no PyYAML: member-role.yaml checked structurally only)")
        return
    tpl = cfn_yaml(text)
    check(tpl["AWSTemplateFormatVersion"] == "2010-09-09", "template version")
    params = tpl["Parameters"]
    check(set(params) == {"RoleName", "RolePath", "RunnerPrincipalArn", "ExternalId"}, f"parameters: {set(params)}")
    check(params["ExternalId"].get("Default") == "", "ExternalId is optional (empty default)")
    check(params["RoleName"].get("Default") == SAMPLE["ROLE_NAME"], "RoleName default as in the guide")
    check(params["RolePath"].get("Default") == "/" and params["RolePath"].get("MaxLength") == 512,
          "RolePath is / unless set, at most 512 characters as IAM allows")
    pattern = {k: re.compile(v["AllowedPattern"]) for k, v in params.items()}
    for name, good, bad in (("RoleName", ["CredReportMemberRole", "a+b=c,d.e@f_g-h"], ["", "x" * 65, "a/b"]),
                            ("RunnerPrincipalArn", [SAMPLE["RUNNER_PRINCIPAL_ARN"], "arn:aws:iam::111111111111:user/ci",
                                                    "arn:aws-us-gov:iam::111111111111:role/path/r"],
                             ["111111111111", "arn:aws:sts::111111111111:assumed-role/r/s"]),
                            ("ExternalId", ["", SAMPLE["EXTERNAL_ID"], "a" * 1224], ["x", "a" * 1225, "has space"]),
                            ("RolePath", ["/", "/audit/", "/audit/team-a/", "/a+b=c,d.e@f_g-h/"],
                             ["", "audit", "/audit", "audit/", "//", "/a//b/", "/a b/", "/a*/"])):
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
    check(props["RoleName"] == {"Ref": "RoleName"} and props["Path"] == {"Ref": "RolePath"},
          "RoleName and Path from the parameters")
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
    # A role created with a path: the ARN IAM gives it is the one credreport builds from
    # role_name = path without its leading / + name, and the runner policy covers it.
    path, name = "/audit/team-a/", SAMPLE["ROLE_NAME"]
    role_name = path.lstrip("/") + name
    check(pattern["RolePath"].fullmatch(path) and pattern["RoleName"].fullmatch(name), "a valid path and name")
    emu = ctx.emulator()
    fixture = json.loads(FIXTURE.read_text())
    keys = next(c for c in fixture["credentials"] if c["account_id"] == fixture["management_account_id"])
    config = ctx.tmp / "path.ini"
    config.write_text(f"[accounts]\nrole_name = {role_name}\n")
    proc = run_credreport(ctx, ["run", "--dry-run", "-c", str(config)], cwd=ctx.tmp,
                          env=ctx.aws_env(emu, AWS_ACCESS_KEY_ID=keys["access_key_id"],
                                          AWS_SECRET_ACCESS_KEY=keys["secret_access_key"], XDG_RUNTIME_DIR=str(ctx.tmp)))
    built = re.findall(r"^(\d{12})\s+(arn:\S+)", proc.stdout, re.M)
    check(proc.returncode == 0 and built, f"dry run with role_name = {role_name}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}")
    runner_policy = load_policy("runner-policy.json", dict(SAMPLE, ROLE_NAME=role_name))
    for account, arn in built:
        check(arn == f"arn:aws:iam::{account}:role{path}{name}", f"credreport assumes {arn}, IAM names the role "
                                                                  f"arn:aws:iam::{account}:role{path}{name}")
        check(allows(runner_policy, "sts:AssumeRole", arn, {"aws:ResourceOrgID": SAMPLE["ORG_ID"]}),
              f"the runner policy with <ROLE_NAME> = {role_name} allows {arn}")
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
    (etc / "config.ini").write_text(failing_fast(""))
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


def _install_checks():
    """The two installation checks of the guide's section 7, as argument lists."""
    guide = GUIDE.read_text()
    section = guide[guide.index("## 7. Installing on a host"):guide.index("## 8. ")]
    checks = {}
    for block in fenced(section, "sh"):
        line = block.replace("\\\n", " ").strip()
        if line.startswith("sudo -u credreport") or line.startswith("sudo systemd-run"):
            checks[line.split()[1]] = shlex.split(line)
    check(set(checks) == {"-u", "systemd-run"}, f"section 7 has a sudo -u check and a systemd-run check: {list(checks)}")
    return checks["-u"], checks["systemd-run"]


def test_installation_checks_use_the_credentials_the_scheduler_gives(ctx):
    sudo_u, sd_run = _install_checks()
    service = (SCHED / "credreport.service").read_text()
    unit = {}
    for line in service.splitlines():
        m = re.match(r"([A-Za-z]+)=(.*)$", line)
        if m:
            unit.setdefault(m.group(1), []).append(m.group(2))
    unit_env = dict(e.split("=", 1) for e in unit["Environment"])
    cred_name, cred_path = unit["LoadCredential"][0].split(":", 1)
    binary, config = unit["ExecStart"][0].split()[0], "/etc/credreport/config.ini"

    # The systemd check: a transient unit with the service's user and credential hand-over.
    opts, i = {"property": [], "setenv": []}, 2
    while sd_run[i].startswith("--"):
        name, _, value = sd_run[i][2:].partition("=")
        if name in opts:
            opts[name].append(value)
        else:
            opts[name] = value
        i += 1
    command = sd_run[i:]
    check({"wait", "pipe", "collect"} <= set(opts), f"systemd-run waits, shows the output, cleans up: {opts}")
    check(opts["uid"] == unit["User"][0] and opts["gid"] == unit["Group"][0], "as the service's user and group")
    check(opts["property"] == [f"LoadCredential={cred_name}:{cred_path}"], f"the service's LoadCredential: {opts}")
    check(opts["setenv"] == [f"AWS_CONFIG_FILE={unit_env['AWS_CONFIG_FILE']}"], f"the service's profiles: {opts}")
    check(unit_env["AWS_SHARED_CREDENTIALS_FILE"] == f"%d/{cred_name}", "the service reads its copy of the file")
    check(command[:2] == ["/bin/sh", "-c"] and len(command) == 3, f"one shell command: {command}")
    script = command[2]
    check(f'AWS_SHARED_CREDENTIALS_FILE="$CREDENTIALS_DIRECTORY/{cred_name}"' in script
          and f"exec {binary} accounts --config {config}" in script, f"the copy, then credreport accounts: {script}")
    analyze = shutil.which("systemd-analyze")
    if analyze:  # the same settings in a unit file are valid for systemd
        units = ctx.tmp / "units"
        units.mkdir()
        (units / "credreport-check.service").write_text(
            "[Service]\nType=oneshot\n" f"User={opts['uid']}\nGroup={opts['gid']}\n"
            + "".join(f"{p}\n" for p in opts["property"]) + "".join(f"Environment={e}\n" for e in opts["setenv"])
            + "ExecStart=" + " ".join(shlex.quote(a) for a in command) + "\n")
        proc = subprocess.run([analyze, "verify", str(units / "credreport-check.service")],
                              capture_output=True, text=True, timeout=120)
        complaints = [l for l in (proc.stdout + proc.stderr).splitlines() if "credreport-check" in l]
        check(proc.returncode == 0 and not complaints, f"systemd-analyze verify:\n{proc.stdout}{proc.stderr}")

    # Both commands, run here against the emulator with their paths moved into the temporary
    # folder: the systemd one with a root-only-style file (0400) in a credentials directory
    # as systemd makes it, the cron one with the file itself.
    emu = ctx.emulator()
    fixture = json.loads(FIXTURE.read_text())
    keys = next(c for c in fixture["credentials"] if c["account_id"] == fixture["management_account_id"])
    etc = ctx.tmp / "etc"
    (etc / "aws").mkdir(parents=True)
    (etc / "config.ini").write_text("[aws]\nmax_attempts = 1\n")
    (etc / "aws" / "config").write_text("")
    (etc / "aws" / "credentials").write_text(f"[default]\naws_access_key_id = {keys['access_key_id']}\n"
                                             f"aws_secret_access_key = {keys['secret_access_key']}\n")
    creds_dir = ctx.tmp / "credentials"
    creds_dir.mkdir()
    shutil.copy(etc / "aws" / "credentials", creds_dir / cred_name)
    (creds_dir / cred_name).chmod(0o400)

    def moved(arg):
        return arg.replace(binary, ctx.binary).replace("/etc/credreport", str(etc))

    base = ctx.aws_env(emu, XDG_RUNTIME_DIR=str(ctx.tmp), AWS_SHARED_CREDENTIALS_FILE=None, AWS_CONFIG_FILE=None)
    active = sorted(a["id"] for a in fixture["accounts"] if a["state"] == "ACTIVE")
    env = dict(base, CREDENTIALS_DIRECTORY=str(creds_dir), AWS_CONFIG_FILE=moved(unit_env["AWS_CONFIG_FILE"]))
    proc = subprocess.run([moved(a) for a in command], env=env, capture_output=True, text=True, timeout=120)
    check(proc.returncode == 0 and sorted(re.findall(r"^(\d{12})\s", proc.stdout, re.M)) == active,
          f"the systemd check lists the accounts: exit {proc.returncode}\n{proc.stdout}{proc.stderr[-2000:]}")
    check(sudo_u[:3] == ["sudo", "-u", "credreport"] and sudo_u[3] == "env", f"sudo -u credreport env ...: {sudo_u}")
    argv = [moved(a) for a in sudo_u[4:]]
    assigned = dict(a.split("=", 1) for a in argv if re.match(r"[A-Z_]+=", a))
    check(set(assigned) == {"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"}, f"the cron check's variables: {assigned}")
    proc = subprocess.run(["env"] + argv, env=base, capture_output=True, text=True, timeout=120)
    check(proc.returncode == 0 and sorted(re.findall(r"^(\d{12})\s", proc.stdout, re.M)) == active,
          f"the cron check lists the accounts: exit {proc.returncode}\n{proc.stdout}{proc.stderr[-2000:]}")


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
    check(any(r["action"] == "FailJob" and r.get("onExitCodes", {}).get("values") == [1, 2, 5]
              and r["onExitCodes"]["operator"] == "In" and r["onExitCodes"].get("containerName") == "credreport"
              for r in rules), f"exit 1, 2 and 5 fail the Job at once: {rules}")
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


# The Job fields the manifests may use (batch/v1 JobSpec, Kubernetes 1.33), so that a
# misspelt field, which the API server would drop or refuse, does not pass unnoticed.
JOB_SPEC_FIELDS = {"activeDeadlineSeconds", "backoffLimit", "backoffLimitPerIndex", "completionMode", "completions",
                   "managedBy", "manualSelector", "maxFailedIndexes", "parallelism", "podFailurePolicy",
                   "podReplacementPolicy", "selector", "successPolicy", "suspend", "template",
                   "ttlSecondsAfterFinished"}
POD_FAILURE_ACTIONS = {"FailJob", "FailIndex", "Ignore", "Count"}


def exit_statuses(ctx):
    """{status: meaning} from `credreport --help`."""
    help_text = run_credreport(ctx, ["--help"], check_status=0).stdout
    found = dict(re.findall(r"^  (\d+(?:, \d+)*)  +(\S.*)$", help_text.split("Exit status:")[1], re.M))
    return {code: meaning for codes, meaning in found.items() for code in codes.split(", ")}


def pod_failure_action(job, container, exit_code, disrupted=False):
    """What the Job controller does with a failed pod: the first rule of the pod failure
    policy that matches (exit codes of a container, or a pod condition), else Count."""
    for rule in job.get("podFailurePolicy", {}).get("rules", []):
        codes = rule.get("onExitCodes")
        if codes:
            if codes.get("containerName", container) != container:
                continue
            if (exit_code in codes["values"]) == (codes["operator"] == "In"):
                return rule["action"]
        elif disrupted and any(c["type"] == "DisruptionTarget" and c.get("status", "True") == "True"
                               for c in rule.get("onPodConditions", [])):
            return rule["action"]
    return "Count"


def check_pod_failure_policy(job, container, where):
    """The policy's grammar: rules the API server accepts."""
    check(set(job) <= JOB_SPEC_FIELDS, f"{where}: unknown Job fields {set(job) - JOB_SPEC_FIELDS}")
    check(job["template"]["spec"]["restartPolicy"] == "Never", f"{where}: a pod failure policy needs restartPolicy Never")
    for rule in job["podFailurePolicy"]["rules"]:
        check(set(rule) <= {"action", "onExitCodes", "onPodConditions"} and rule["action"] in POD_FAILURE_ACTIONS
              and ("onExitCodes" in rule) != ("onPodConditions" in rule), f"{where}: rule {rule}")
        if rule["action"] == "FailIndex":
            check("backoffLimitPerIndex" in job, f"{where}: FailIndex needs backoffLimitPerIndex")
        codes = rule.get("onExitCodes")
        if codes:
            values = codes["values"]
            check(set(codes) <= {"containerName", "operator", "values"} and codes["operator"] in ("In", "NotIn")
                  and codes.get("containerName") == container, f"{where}: onExitCodes {codes}")
            check(values and len(values) == len(set(values)) and all(isinstance(v, int) and 0 < v < 256 for v in values),
                  f"{where}: exit codes are distinct and 1-255 (0 cannot be listed): {values}")


# What each exit status of credreport should do. A new status fails this test until it is
# decided here and in the manifests.
SINGLE_POD = {"1": "FailJob", "2": "FailJob", "3": "Count", "4": "Count", "5": "FailJob", "130": "Count",
              "143": "Count"}
PER_SHARD = {"1": "FailIndex", "2": "FailJob", "3": "Count", "4": "Count", "5": "FailIndex", "130": "Count",
             "143": "Count"}


def test_kubernetes_exit_statuses_are_handled_as_documented(ctx):
    statuses = {c for c in exit_statuses(ctx) if c != "0"}
    for name, expect in (("cronjob.yaml", SINGLE_POD), ("cronjob-sharded.yaml", PER_SHARD)):
        check(statuses == set(expect), f"credreport's exit statuses {sorted(statuses)} are not all classified for "
                                       f"{name} ({sorted(expect)}): decide what a new one does to the Job")
        text = (SCHED / name).read_text()
        if yaml is None:
            print(f"     (no PyYAML: {name} not evaluated)")
            continue
        cj = {d["kind"]: d for d in yaml.safe_load_all(text) if d}["CronJob"]
        job = cj["spec"]["jobTemplate"]["spec"]
        container = job["template"]["spec"]["containers"][0]["name"]
        check_pod_failure_policy(job, container, name)
        for code, action in expect.items():
            got = pod_failure_action(job, container, int(code))
            check(got == action, f"{name}: exit {code} ({exit_statuses(ctx)[code]}) leads to {got}, not {action}")
        # A pod stopped by a node drain or preemption (SIGTERM, 143) is not a failed try.
        check(pod_failure_action(job, container, 143, disrupted=True) == "Ignore", f"{name}: disruptions are ignored")
    # Retries are bounded: once for a single pod, once per shard.
    docs = {n: {d["kind"]: d for d in yaml.safe_load_all((SCHED / n).read_text()) if d}["CronJob"]["spec"]["jobTemplate"]["spec"]
            for n in ("cronjob.yaml", "cronjob-sharded.yaml")} if yaml else {}
    if docs:
        check(docs["cronjob.yaml"].get("backoffLimit") == 1, "cronjob.yaml: one retry")
        check(docs["cronjob-sharded.yaml"].get("backoffLimitPerIndex") == 1
              and "backoffLimit" not in docs["cronjob-sharded.yaml"],
              "cronjob-sharded.yaml: one retry per shard, and no Job-wide limit that one shard could use up")


def test_sharded_kubernetes_cronjob(ctx):
    base_text = (SCHED / "cronjob.yaml").read_text()
    text = (SCHED / "cronjob-sharded.yaml").read_text()
    for needle in ("completionMode: Indexed", "backoffLimitPerIndex:", "action: FailIndex", "auto/", "1.29", "1.33"):
        check(needle in text, f"cronjob-sharded.yaml: {needle} missing")
    check(block_scalar(text, r"^\s*config\.ini:") == block_scalar(base_text, r"^\s*config\.ini:"),
          "the sharded recipe has the same config.ini as cronjob.yaml")
    if yaml is None:
        print("     (no PyYAML: cronjob-sharded.yaml checked structurally only)")
        return
    base = {d["kind"]: d for d in yaml.safe_load_all(base_text) if d}
    docs = {d["kind"]: d for d in yaml.safe_load_all(text) if d}
    check(set(docs) == set(base), f"kinds: {list(docs)}")
    for kind in ("Namespace", "ServiceAccount", "ConfigMap"):
        check(docs[kind] == base[kind], f"cronjob-sharded.yaml: the {kind} differs from cronjob.yaml's")
    cj, cj0 = docs["CronJob"], base["CronJob"]
    check(cj["metadata"] == cj0["metadata"], "the same CronJob, so that one replaces the other")
    check({k: v for k, v in cj["spec"].items() if k != "jobTemplate"}
          == {k: v for k, v in cj0["spec"].items() if k != "jobTemplate"}, "the same schedule, time zone and policies")
    job, job0 = cj["spec"]["jobTemplate"]["spec"], cj0["spec"]["jobTemplate"]["spec"]
    pod, pod0 = job["template"]["spec"], job0["template"]["spec"]
    main, main0 = pod["containers"][0], pod0["containers"][0]
    args = main["args"]
    check(args[:len(main0["args"])] == main0["args"] and args[len(main0["args"]):-2] == []
          and args[-2] == "--shard" and re.fullmatch(r"auto/\d+", args[-1]),
          f"the single pod's arguments plus --shard auto/N: {args}")
    shards = int(args[-1].split("/")[1])
    check(job["completionMode"] == "Indexed" and job["completions"] == shards == job["parallelism"],
          f"an Indexed Job of N = {shards} pods at once: completionMode {job.get('completionMode')}, "
          f"completions {job.get('completions')}, parallelism {job.get('parallelism')}")
    check(job["activeDeadlineSeconds"] == job0["activeDeadlineSeconds"] and "maxFailedIndexes" not in job,
          "the same deadline; every shard runs to its end whatever the others do")
    check({**main, "args": main0["args"]} == main0 and {**pod, "containers": pod0["containers"]} == pod0
          and job["template"]["metadata"] == job0["template"]["metadata"], "the same pod as cronjob.yaml otherwise")

    # Each pod's command as Kubernetes runs it, index by index: every account of the
    # organization in exactly one shard, and an index out of range is a configuration error.
    fixture, path = _security_account_fixture(ctx)  # the ConfigMap's bucket and topic exist
    emu = ctx.emulator(path)
    config = ctx.tmp / "config.ini"
    config.write_text(block_scalar(text, r"^\s*config\.ini:").replace("[aws]\n", "[aws]\nmax_attempts = 1\n", 1))
    argv = [a.replace("/etc/credreport/config.ini", str(config)) for a in args] + ["--dry-run"]
    keys = next(c for c in fixture["credentials"] if c["account_id"] == fixture["management_account_id"])
    env = ctx.aws_env(emu, AWS_ACCESS_KEY_ID=keys["access_key_id"], AWS_SECRET_ACCESS_KEY=keys["secret_access_key"],
                      XDG_RUNTIME_DIR=str(ctx.tmp))
    seen = []
    for index in range(shards):
        proc = run_credreport(ctx, argv, env=dict(env, JOB_COMPLETION_INDEX=str(index)), cwd=ctx.tmp)
        check(proc.returncode == 0, f"shard {index}: exit {proc.returncode}\n{proc.stdout}{proc.stderr[-2000:]}")
        seen += re.findall(r"^(\d{12})\s", proc.stdout, re.M)
    active = sorted(a["id"] for a in fixture["accounts"] if a["state"] == "ACTIVE")
    check(sorted(seen) == active, f"the shards cover every account once: {sorted(seen)} vs {active}")
    proc = run_credreport(ctx, argv, env=dict(env, JOB_COMPLETION_INDEX=str(shards)), cwd=ctx.tmp)
    check(proc.returncode == 2, f"index {shards} of {shards} shards: exit {proc.returncode} (FailJob expects 2)")


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
    core_text = "".join(p.read_text() for p in sorted((ROOT / "core").rglob("*.c")))
    for var in sorted(set(re.findall(r"\b(AWS_[A-Z0-9_]+)\b", section))):
        check(f'"{var}"' in core_text, f"deploy.md says credreport reads {var}, but core/*.c never names it")
    for key in ("credential_process", "credential_source", "web_identity_token_file", "source_profile", "role_arn"):
        check(f'"{key}"' in core_text, f"deploy.md says credreport understands {key}, but core/*.c never names it")
    # The runner's account reads the organization; it never administers StackSets, whose
    # execution role can deploy anything to every account.
    runner_ids = (SAMPLE["RUNNER_ACCOUNT_ID"], "<RUNNER_ACCOUNT_ID>")
    for line in guide.splitlines():
        if "register-delegated-administrator" in line and "--account-id" in line:
            check(not any(i in line for i in runner_ids), f"deploy.md delegates StackSets to the runner's account: {line}")
    check(re.search(r"never in\s+the runner's account", guide), "deploy.md says where the StackSet is managed from")
    # The runner policy's Organizations table lists exactly the code's calls.
    org = {op for op in code_operations()["organizations"]}
    listed = set(re.findall(r"^\| `organizations:(\w+)` \|", guide, re.M))
    check(listed == org, f"the guide's Organizations table {sorted(listed)} vs the code {sorted(org)}")


def test_the_guide_creates_things_in_an_order_aws_accepts(ctx):
    """IAM, S3 and KMS refuse a policy naming a principal that does not exist, and a key's ARN
    exists only once the key does: every document of the creation order names the runner
    and the key only after their own steps."""
    guide = GUIDE.read_text()
    section = guide[guide.index("### In which order"):guide.index("## 2. ")]
    steps = re.split(r"^\d+\. ", section, flags=re.M)[1:]
    check(len(steps) >= 6, f"the creation order is a numbered list: {len(steps)} steps")
    step_of = {}
    for i, text in enumerate(steps):
        for name in re.findall(r"\]\(iam/([^)]+)\)", text):
            step_of.setdefault(name, i)
    runner = min(step_of[n] for n in step_of if n.startswith("runner-trust-"))
    key = step_of["kms-key-policy.json"]
    check(runner < key, "the runner before the key")
    for name, i in step_of.items():
        text = (IAM / name).read_text()
        if name.endswith(".json"):
            doc = json.loads(text)
            in_principal = any("<RUNNER_PRINCIPAL_ARN>" in json.dumps(st.get("Principal", "")) for st in statements(doc))
        else:
            in_principal = "RunnerPrincipalArn" in text
        if in_principal or "<RUNNER_PRINCIPAL_ARN>" in text:
            check(i > runner, f"{name} (step {i + 1}) names the runner, created at step {runner + 1}")
        if "<KMS_KEY_ARN>" in text:
            check(i > key, f"{name} (step {i + 1}) names the key, created at step {key + 1}")
    for name in ("runner-policy.json", "member-role.yaml", "bucket-policy.json", "topic-policy.json"):
        check(name in step_of, f"the creation order places {name}")
    # Section 4 gives the commands in that order too.
    check(guide.index("### The KMS key") < guide.index("### The bucket") < guide.index("### The SNS topic"),
          "section 4: key, then bucket, then topic")
    check("describe-organization --query Organization.Id" in guide, "how to find the organization id")


# ---------------------------------------------------------------------------------------
# A run against the emulator, every request checked against the documented policies

def _principal_role(arn):
    """arn:aws:sts::ACCT:assumed-role/ROLE/SESSION -> arn:aws:iam::ACCT:role/ROLE."""
    m = re.fullmatch(r"arn:aws:sts::(\d{12}):assumed-role/(.+)/[^/]+", arn or "")
    return f"arn:aws:iam::{m.group(1)}:role/{m.group(2)}" if m else arn


def _security_account_fixture(ctx):
    """The emulator fixture with the guide's bucket (in the security account, SSE-KMS with the
    bucket's default Bucket Key, shared with the management account as its policy does), its
    topic and the member role under the guide's name."""
    fixture = json.loads(FIXTURE.read_text())
    mgmt = fixture["management_account_id"]
    fixture["default_role_name"] = SAMPLE["ROLE_NAME"]
    fixture["buckets"].append({"name": SAMPLE["BUCKET"], "owner": SAMPLE["SECURITY_ACCOUNT_ID"],
                               "region": SAMPLE["BUCKET_REGION"], "grants": [mgmt],
                               "object_ownership": "BucketOwnerEnforced",
                               "default_encryption": {"algorithm": "aws:kms", "kms_key_id": SAMPLE["KMS_KEY_ARN"],
                                                      "bucket_key_enabled": True},
                               "required_sse": "aws:kms"})
    fixture["topics"].append({"arn": SAMPLE["TOPIC_ARN"], "publishers": [mgmt]})
    path = ctx.tmp / "fixture.json"
    path.write_text(json.dumps(fixture))
    return fixture, path


def test_the_canary_run_shows_what_the_guide_says(ctx):
    guide = GUIDE.read_text()
    section = guide[guide.index("## 10. First run"):]
    m = re.search(r"^\s*credreport run --account (\d{12}) --config /etc/credreport/config\.ini$", section, re.M)
    check(m, "section 10 has the canary command")
    account = m.group(1)
    fixture, path = _security_account_fixture(ctx)
    check(account in {a["id"] for a in fixture["accounts"] if a["state"] == "ACTIVE"}
          and account != fixture["management_account_id"], f"the canary's {account} is a member account")
    emu = ctx.emulator(path)
    # The guide's example config.ini, with on = always as the canary's SNS check assumes, and
    # quick polling.
    example = next(b for b in fenced(guide, "ini") if "[output]" in b and "sns_topic_arn" in b)
    config = ctx.tmp / "config.ini"
    config.write_text(example.replace("[notify]\n", "[notify]\non = always\n", 1)
                      + "\n[report]\nwait_interval = 0.05\nwait_growth = 1.5\nmax_wait = 0.3\n")
    keys = next(c for c in fixture["credentials"] if c["account_id"] == fixture["management_account_id"])
    env = ctx.aws_env(emu, AWS_ACCESS_KEY_ID=keys["access_key_id"], AWS_SECRET_ACCESS_KEY=keys["secret_access_key"],
                      XDG_RUNTIME_DIR=str(ctx.tmp))
    proc = run_credreport(ctx, ["run", "--account", account, "--config", str(config)], env=env, cwd=ctx.tmp)
    out = proc.stdout
    check(proc.returncode == 0 and "1 account(s) in scope, 1 delivered, 0 failed" in out,
          f"exit 0 and the summary the guide quotes:\n{out}{proc.stderr[-2000:]}")
    # Role assumed.
    assumed = [r for r in emu.requests()["requests"] if r["action"] == "AssumeRole"]
    check([r["params"]["RoleArn"] for r in assumed] == [f"arn:aws:iam::{account}:role/{SAMPLE['ROLE_NAME']}"],
          f"the member role was assumed: {[r['params'].get('RoleArn') for r in assumed]}")
    # Manifest written, where the last line says, with the fields the guide names.
    last = out.strip().splitlines()[-1]
    m = re.fullmatch(r"manifest: s3://example-credreports/(credreport/(\d{4}-\d{2}-\d{2})/manifest-[^/]+\.json)", last)
    check(m, f"the last line names the manifest as the guide shows: {last}")
    manifest = json.loads(emu.admin("GET", f"/s3/object?bucket={SAMPLE['BUCKET']}&key={m.group(1)}", raw=True))
    check({k: manifest["summary"][k] for k in ("in_scope", "delivered", "failed")}
          == {"in_scope": 1, "delivered": 1, "failed": 0}, f"manifest summary: {manifest['summary']}")
    row = manifest["accounts"][0]
    report_key = f"credreport/{m.group(2)}/credentialReport_{account}.csv"
    check(row["id"] == account and row["status"] == "delivered" and {"key", "location", "bytes", "sha256"} <= set(row)
          and row["location"] == f"s3://{SAMPLE['BUCKET']}/{report_key}", f"the account's row: {row}")
    # The object as head-object shows it: size, checksum (the row's sha256 in base64), SSE-KMS
    # with the key and the bucket's Bucket Key.
    obj = next(o for o in emu.admin("GET", f"/s3/objects?bucket={SAMPLE['BUCKET']}")["objects"] if o["key"] == report_key)
    body = emu.admin("GET", f"/s3/object?bucket={SAMPLE['BUCKET']}&key={report_key}", raw=True)
    check(obj["size"] == len(body) == row["bytes"] and hashlib.sha256(body).hexdigest() == row["sha256"],
          f"the object matches the row: {obj['size']} bytes vs {row['bytes']}")
    check(obj["checksums"].get("x-amz-checksum-sha256") == base64.b64encode(bytes.fromhex(row["sha256"])).decode(),
          f"ChecksumSHA256 is the row's sha256 in base64: {obj['checksums']}")
    check(obj["sse"] == "aws:kms" and obj["kms_key_id"] == SAMPLE["KMS_KEY_ARN"] and obj["bucket_key_enabled"],
          f"SSE-KMS with the key and the bucket's Bucket Key: {obj}")
    # SNS reached: the run's summary, with the subject the guide quotes.
    messages = [x for x in emu.admin("GET", "/sns/messages")["messages"] if x["topic_arn"] == SAMPLE["TOPIC_ARN"]]
    check(len(messages) == 1 and re.fullmatch(r"credreport run \S+: 1 delivered, 0 failed", messages[0].get("subject", "")),
          f"one summary message: {messages}")
    for quoted in ("1 account(s) in scope, 1 delivered, 0 failed", '"status": "delivered"', "ChecksumSHA256",
                   "BucketKeyEnabled", ": 1 delivered, 0 failed", "list-stack-instances", "DETAILED_STATUS",
                   "detect-stack-set-drift", "DriftStatus"):
        check(quoted in section, f"section 10 mentions {quoted}")


def test_runs_need_nothing_beyond_the_documented_policies(ctx):
    # The member role under the guide's name; the bucket and topic of the ConfigMap, owned by
    # the security account and shared with the management account as their policies do.
    fixture, path = _security_account_fixture(ctx)
    runner = SAMPLE["RUNNER_PRINCIPAL_ARN"]
    web = fixture["web_identity_tokens"][0]
    check(web["role_arn"] == runner, "the sample runner is the fixture's web identity role")
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

    # The key policy's statements for the runner with the encryption context narrowed to the
    # prefix alone: what the guide's bucket (S3 Bucket Key on by default) makes of it.
    prefix_only = json.loads(json.dumps(key_policy))
    for st in statements(prefix_only):
        arns = st.get("Condition", {}).get("StringLike", {}).get("kms:EncryptionContext:aws:s3:arn")
        if arns:
            st["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"] = [a for a in arns if "/" in a]

    def kms_through_s3(kms_action, obj, bucket_key):
        context = f"arn:aws:s3:::{obj['bucket']}" if bucket_key else f"arn:aws:s3:::{obj['bucket']}/{obj['key']}"
        kctx = {"kms:ViaService": via_s3, "kms:EncryptionContext:aws:s3:arn": context}
        key = obj.get("kms_key_id") or SAMPLE["KMS_KEY_ARN"]
        check(allows(identity, kms_action, key, kctx), f"runner policy: {kms_action} for {obj['key']}")
        check(allows(key_policy, kms_action, "*", kctx, runner), f"key policy: {kms_action} for {obj['key']}")
        # As the guide says: with the bucket's default Bucket Key, S3 passes the bucket's ARN for
        # every object (credreport sends bucket_key only to turn it on), so a condition on the
        # prefix alone would refuse every upload.
        check(bucket_key and not allows(prefix_only, kms_action, "*", kctx, runner),
              f"{kms_action} for {obj['key']}: the bucket's Bucket Key applies, the prefix is not in the context")
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
                check(h.get("x-amz-expected-bucket-owner") == SAMPLE["SECURITY_ACCOUNT_ID"],
                      f"every request to the bucket names its expected owner, as the guide says: {where}")
                if r["action"] == "PutObject":
                    action, resource = "s3:PutObject", f"arn:aws:s3:::{r['bucket']}/{r['key']}"
                    ctx_keys.update({k: h[n] for k, n in (
                        ("s3:x-amz-server-side-encryption", "x-amz-server-side-encryption"),
                        ("s3:x-amz-server-side-encryption-aws-kms-key-id", "x-amz-server-side-encryption-aws-kms-key-id"))
                        if h.get(n)})
                    if h.get("x-amz-server-side-encryption") == "aws:kms":
                        check("x-amz-server-side-encryption-bucket-key-enabled" not in h,
                              "bucket_key = false (the default) leaves the choice to the bucket")
                        stored = objects.get(r["key"], {})  # as S3 stored it: with the bucket's Bucket Key
                        kms_through_s3("kms:GenerateDataKey", {"bucket": r["bucket"], "key": r["key"],
                                                               "kms_key_id": h.get("x-amz-server-side-encryption-aws-kms-key-id")},
                                       stored.get("bucket_key_enabled"))
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


# ---------------------------------------------------------------------------------------
# The build, for the architecture it targets (the Containerfile builds on arm64 too)


def _link_line(args):
    """`make -n` of the binary's link: the command make would run, or its error. Run apart
    from the make that may be running the tests (its flags and jobserver are not passed on)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CJSON_A")}
    proc = subprocess.run(["make", "--no-print-directory", "-n", "-B", "build/credreport"] + args, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)
    lines = [l for l in proc.stdout.splitlines() if " -o build/credreport " in l]
    return proc, (lines[-1] if lines else "")


def test_the_build_finds_lua_cjson_for_its_architecture(ctx):
    makefile = (ROOT / "Makefile").read_text()
    check(not re.search(r"/usr/lib/[a-z0-9_]+-linux-gnu[a-z]*/", makefile),
          "the Makefile names no architecture's library directory")
    containerfile = (SCHED / "Containerfile").read_text()
    check("make build/credreport" in containerfile and "x86_64" not in containerfile
          and "arm64" in containerfile, "the Containerfile builds with the Makefile, for any architecture")
    # Here: the archive of the compiler's own architecture.
    arch = subprocess.run(shlex.split(os.environ.get("CC") or "cc") + ["-print-multiarch"], capture_output=True,
                          text=True).stdout.strip()
    proc, line = _link_line([])
    check(proc.returncode == 0 and line, f"make -n:\n{proc.stdout[-1500:]}{proc.stderr}")
    want = f"/usr/lib/{arch}/liblua5.4-cjson.a" if arch else "liblua5.4-cjson.a"
    check(want in line.split(), f"links {want}: {line}")
    # A compiler for another architecture: that architecture's archive, or a clear error.
    cc = ctx.tmp / "aarch64-cc"
    cc.write_text('#!/bin/sh\n[ "$1" = -print-multiarch ] && { echo aarch64-linux-gnu; exit 0; }\nexit 1\n')
    cc.chmod(0o755)
    proc, line = _link_line([f"CC={cc}"])
    if os.path.exists("/usr/lib/aarch64-linux-gnu/liblua5.4-cjson.a"):
        check("/usr/lib/aarch64-linux-gnu/liblua5.4-cjson.a" in line.split(), f"arm64 archive: {line}")
    else:
        check(proc.returncode != 0 and not line, f"no link without the arm64 archive: {line}")
        check("liblua5.4-cjson.a not found for aarch64-linux-gnu" in proc.stderr and "lua-cjson-dev" in proc.stderr
              and "CJSON_A=" in proc.stderr, f"the error says what is missing and what to do:\n{proc.stderr}")
    # And the archive can be named.
    proc, line = _link_line(["CJSON_A=/opt/cross/liblua5.4-cjson.a"])
    check(proc.returncode == 0 and "/opt/cross/liblua5.4-cjson.a" in line.split(), f"CJSON_A overrides: {line}")


def test_the_build_links_mimalloc_or_says_how_to_do_without(ctx):
    """The release binary allocates with mimalloc, linked ahead of the C library; without its
    header the build says what to install or how to build without it, and MALLOC=libc builds
    with glibc's malloc."""
    proc, line = _link_line([])
    words = line.split()
    check(proc.returncode == 0 and "-lmimalloc" in words and words.index("-lmimalloc") < words.index("-lcurl"),
          f"mimalloc linked ahead of the libraries: {line}")
    proc, line = _link_line(["MALLOC=libc"])
    check(proc.returncode == 0 and line and "-lmimalloc" not in line.split()
          and "CREDREPORT_MIMALLOC" not in proc.stdout, f"MALLOC=libc: {line}")
    proc, line = _link_line(["MIMALLOC_H="])  # as if libmimalloc-dev were not installed
    check(proc.returncode != 0 and not line, f"no build without mimalloc.h: {line}")
    check("libmimalloc-dev" in proc.stderr and "make MALLOC=libc" in proc.stderr,
          f"the error says what to install, or how to do without:\n{proc.stderr}")


def _apt_lists(containerfile):
    """The packages of each `apt-get install` of the Containerfile, stage by stage."""
    out = []
    for block in re.findall(r"apt-get install ([^&]*)&&", containerfile.replace("\\\n", " ")):
        out.append({w for w in block.split() if not w.startswith("-")})
    return out


def test_the_container_image_installs_what_the_binary_needs(ctx):
    containerfile = (SCHED / "Containerfile").read_text()
    build, runtime = _apt_lists(containerfile)
    # The build stage has what the Makefile builds with (its test-only packages aside).
    apt = re.search(r"^APT_PKGS\s*:=((?:.*\\\n)*.*)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    needed = {p for p in apt.replace("\\", " ").split() if p.endswith("-dev") or p in ("build-essential", "pkg-config")}
    check(needed <= build, f"the Containerfile's build stage lacks {sorted(needed - build)} (Makefile APT_PKGS)")
    # The run-time stage has every library the binary is linked with, and the guide says so.
    guide = GUIDE.read_text()
    listed = re.search(r"binary needs\s+`([^`]+)`\s+at run time", guide)
    check(listed and set(listed.group(1).split()) == runtime,
          f"deploy.md's run-time packages {listed and listed.group(1)} vs the Containerfile's {sorted(runtime)}")
    binary = ROOT / "build" / "credreport"
    if not (shutil.which("readelf") and shutil.which("dpkg") and binary.exists()):
        print("     (no readelf, dpkg or build/credreport: the linked libraries not checked)")
        return
    elf = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True, check=True).stdout
    for soname in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", elf):
        owners = subprocess.run(["dpkg", "-S", f"*/{soname}"], capture_output=True, text=True).stdout
        packages = {line.split(":")[0] for line in owners.splitlines() if line.rstrip().endswith("/" + soname)}
        check(packages, f"no Debian package has {soname}")
        if packages & {"libc6", "libc6-i386", "libc6-x32", "libc6-amd64"}:
            continue  # in every Debian image
        check(packages & runtime, f"{soname} ({sorted(packages)}) is not installed by the Containerfile's run-time stage")

