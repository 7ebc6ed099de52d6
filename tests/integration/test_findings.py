"""From reports to answers: findings on every report (against an independent Python reading of
the reports), what changed since the last run, the summary page in a real browser, the
consolidated CSV and the Hive-style dataset read by DuckDB."""
import csv
import datetime
import io
import json
import subprocess

from harness import ROOT, check, run_credreport
from orgs import FAST, generate, keys_for

JS = ROOT / "tests" / "integration" / "js"
SHOTS = ROOT / "build" / "screenshots"


# ---- an independent reading of the reports: what each check must find ---------------------

def _epoch(v):
    try:
        return datetime.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
    except (AttributeError, TypeError, ValueError):
        return None  # N/A, no_information, not_supported


def expected_findings(csv_text, generated, settings):
    """{(check, user, subject)} the bundled checks must report for one report, ages counted
    from the report's generation time."""
    now = _epoch(generated)
    out = set()

    def days(v):
        t = _epoch(v)
        return None if t is None else (now - t) / 86400

    for r in csv.DictReader(io.StringIO(csv_text)):
        user = r["user"]
        keys = [n for n in (1, 2) if r[f"access_key_{n}_active"] == "true"]
        if user == "<root_account>":
            for n in keys:
                out.add(("root_access_key", user, f"access_key_{n}"))
            if r["mfa_active"] != "true":
                out.add(("root_no_mfa", user, None))
            ages = [days(r[f]) for f in ("password_last_used", "access_key_1_last_used_date", "access_key_2_last_used_date")]
            if any(a is not None and a < settings["root_used_days"] for a in ages):
                out.add(("root_used_recently", user, None))
            continue
        if r["password_enabled"] == "true":
            if r["mfa_active"] != "true":
                out.add(("console_user_no_mfa", user, None))
            age = next((a for a in (days(r["password_last_used"]), days(r["password_last_changed"]),
                                    days(r["user_creation_time"])) if a is not None), None)
            if age is not None and age >= settings["unused_days"]:
                out.add(("credentials_unused", user, "password"))
        for n in keys:
            p = f"access_key_{n}_"
            age = days(r[p + "last_used_date"])
            if age is None:
                age = days(r[p + "last_rotated"])
            if age is not None and age >= settings["unused_days"]:
                out.add(("credentials_unused", user, f"access_key_{n}"))
            rot = days(r[p + "last_rotated"])
            if rot is not None and rot > settings["rotation_days"]:
                out.add(("key_not_rotated", user, f"access_key_{n}"))
            created, rotated = _epoch(r["user_creation_time"]), _epoch(r[p + "last_rotated"])
            if (created is not None and rotated is not None and _epoch(r[p + "last_used_date"]) is None
                    and abs(rotated - created) <= 3600):
                out.add(("key_unused_since_creation", user, f"access_key_{n}"))
        if len(keys) == 2:
            out.add(("multiple_active_keys", user, None))
    return {f for f in out if settings.get(f[0]) != "off"}


SEVERITY = {"root_access_key": "critical", "root_no_mfa": "critical", "root_used_recently": "high",
            "console_user_no_mfa": "high", "credentials_unused": "medium", "key_not_rotated": "medium",
            "multiple_active_keys": "medium", "key_unused_since_creation": "low"}
CIS = {"root_access_key": "1.4", "root_no_mfa": "1.5", "root_used_recently": "1.7", "console_user_no_mfa": "1.10",
       "credentials_unused": "1.12", "key_not_rotated": "1.14", "multiple_active_keys": "1.13",
       "key_unused_since_creation": "1.11"}
NASTY_NAME = '<script>alert("x")</script> & Co \u0007\u001b[31m'
NASTY_OU = "R&D <lab>"


def _org(ctx, **kw):
    """A generated organization with one account carrying AWS-provided text that must be
    escaped, a root access key, and a user whose key was created with it and never used."""
    path, fx = generate(ctx, **kw)
    mgmt = fx["management_account_id"]
    members = [a for a in fx["accounts"] if a["id"] != mgmt and a["state"] == "ACTIVE" and not a.get("role_missing")]
    odd = members[0]
    odd["name"] = NASTY_NAME
    odd["root"] = {"mfa": False, "password_last_used_days_ago": 2,
                   "access_keys": [{"active": True, "rotated_days_ago": 3, "last_used_days_ago": 1}]}
    odd["users"] = [
        {"name": "new-hire", "created_days_ago": 10, "password": False,
         "access_keys": [{"active": True, "rotated_days_ago": 10, "last_used": None}]},
        {"name": "ops,admin", "created_days_ago": 900, "mfa": False,
         "password": {"enabled": True, "last_used_days_ago": 1, "last_changed_days_ago": 300},
         "access_keys": [{"active": True, "rotated_days_ago": 400, "last_used_days_ago": 100},
                         {"active": True, "rotated_days_ago": 5, "last_used_days_ago": 1}]},
    ]
    for ou in fx["organizational_units"]:
        if ou["id"] == odd["parent"]:
            ou["name"] = NASTY_OU
    path.write_text(json.dumps(fx))
    return path, fx, odd


def _run(ctx, emu, fx, config, args=(), status=None):
    cfg = ctx.tmp / "config.ini"
    cfg.write_text(FAST + config)
    return run_credreport(ctx, ["run", "-c", str(cfg), "--lock-file", str(ctx.tmp / "lock")] + list(args),
                          env=ctx.aws_env(emu, **keys_for(fx)), check_status=status, cwd=ctx.tmp)


def _lines(text):
    return [json.loads(line) for line in text.splitlines()]


def _node(script, *args):
    proc = subprocess.run(["node", str(JS / script)] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=120)
    check(proc.returncode == 0, f"{script} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def test_findings_summary_page_and_dataset_match_the_reports(ctx):
    path, fx, odd = _org(ctx, accounts=10, seed=21, depth=2, max_users=12, role_missing=1, never_complete=0,
                         min_delay_ms=20, max_delay_ms=80)
    emu = ctx.emulator(path)
    settings = {"root_used_days": 30, "unused_days": 45, "rotation_days": 120, "multiple_active_keys": "off"}
    proc = _run(ctx, emu, fx, """
[findings]
rotation_days = 120
key_not_rotated = high
multiple_active_keys = off
[output]
destination = out
consolidated_csv = true
dataset = dataset
""")
    check(proc.returncode == 1, f"one account has no role: exit 1, got {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}")
    day = next((ctx.tmp / "out").glob("20*")).name
    folder = ctx.tmp / "out" / day
    m = json.loads(next(folder.glob("manifest-*.json")).read_text())
    run_id = m["run_id"]
    lines = _lines((folder / f"findings-{run_id}.jsonl").read_text())
    rows = {r["id"]: r for r in m["accounts"]}
    delivered = [r for r in m["accounts"] if r["status"] == "delivered"]
    failed = [r for r in m["accounts"] if r["status"] == "failed"]
    check(len(failed) == 1 and "findings" not in failed[0], f"the failed account has no findings: {failed}")

    # Every finding, and nothing else, against an independent reading of each report.
    by_account = {}
    for f in lines:
        by_account.setdefault(f["account"], []).append(f)
    total = {"total": 0, "critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0}
    seen_checks = set()
    for row in delivered:
        text = (folder / f"credentialReport_{row['id']}.csv").read_text()
        want = expected_findings(text, row["report_generated_time"], settings)
        got = by_account.get(row["id"], [])
        check({(f["check"], f["user"], f.get("subject")) for f in got} == want and len(got) == len(want),
              f"{row['id']}: findings differ from the report:\n got  {sorted(map(str, ((f['check'], f['user'], f.get('subject')) for f in got)))}"
              f"\n want {sorted(map(str, want))}")
        report_rows = {r["user"]: r for r in csv.DictReader(io.StringIO(text))}
        counts = {"total": len(got), "new": len(got), "critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0}
        for f in got:
            sev = "high" if f["check"] == "key_not_rotated" else SEVERITY[f["check"]]
            check(f["severity"] == sev and f["cis"] == CIS[f["check"]] and "title" not in f, f"severity, CIS: {f}")
            check(f["account_name"] == row["name"] and f["ou_path"] == row["ou_path"], f"account fields: {f}")
            check(f["change"] == "new" and f["first_seen"] == day, f"no earlier run: new: {f}")
            check(f["report_generated_time"] == row["report_generated_time"] and "stale_report" not in f, f"{f}")
            check(f["evidence"] and all(report_rows[f["user"]][k] == v for k, v in f["evidence"].items()),
                  f"evidence as the report has it: {f}")
            counts[f["severity"]] += 1
            total[f["severity"]] += 1
            seen_checks.add(f["check"])
        total["total"] += len(got)
        check(row["findings"] == counts, f"{row['id']}: manifest counts {row['findings']} vs {counts}")
    for c in ("root_access_key", "root_no_mfa", "root_used_recently", "console_user_no_mfa", "credentials_unused",
              "key_not_rotated", "key_unused_since_creation"):
        check(c in seen_checks, f"the fixture exercises {c}: {sorted(seen_checks)}")
    check("multiple_active_keys" not in seen_checks, "multiple_active_keys = off")
    mf = m["findings"]
    check({k: mf[k] for k in total} == total and mf["new"] == total["total"] and mf["resolved"] == 0
          and "compared_with" not in mf and mf["file"] == f"{day}/findings-{run_id}.jsonl", f"manifest findings {mf}")
    check(f"findings: {total['total']}" in proc.stdout and f"summary-{run_id}.html" in proc.stdout, proc.stdout)

    # The summary page in Chromium: renders, shows the manifest's and the findings file's numbers.
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / "summary-page.png"
    page = _node("summary-page.js", folder / f"summary-{run_id}.html", shot)
    check(page["scripts"] == 0 and not page["requests"] and not page["dialogs"] and not page["errors"],
          f"self-contained, nothing runs: {page['scripts']} {page['requests']} {page['dialogs']} {page['errors']}")
    s = m["summary"]
    check(page["cards"] == {"in_scope": s["in_scope"], "delivered": s["delivered"], "failed": s["failed"],
                            "skipped": s["skipped"], "findings": total["total"], "new": total["total"], "resolved": 0},
          f"cards {page['cards']} vs manifest {s} and {total}")
    check(page["status"] == "failed", "the status says accounts failed")
    check(page["severities"] == {k: v for k, v in total.items() if k != "total"}, f"severities {page['severities']}")
    per_check = {}
    for f in lines:
        per_check[f["check"]] = per_check.get(f["check"], 0) + 1
    check(page["chart"] == per_check, f"chart {page['chart']} vs findings file {per_check}")
    check({r["check"]: int(r["cells"][3]) for r in page["checks"]} == per_check, f"checks table {page['checks']}")
    check([r["account"] for r in page["failed"]] == [failed[0]["id"]] and failed[0]["error"]["code"] in page["failed"][0]["cells"][3],
          f"failed accounts: {page['failed']}")
    ranked = {r["account"]: int(r["cells"][8].replace(",", "")) for r in page["accounts"]}
    check(ranked == {r["id"]: r["findings"]["total"] for r in delivered if r["findings"]["total"] > 0},
          f"ranked accounts {ranked}")
    odd_row = next(r for r in page["accounts"] if r["account"] == odd["id"])
    check(odd_row["cells"][1] == NASTY_NAME.replace("\u0007", "\ufffd").replace("\u001b", "\ufffd"),
          f"the account name is shown as text, control characters replaced: {odd_row['cells'][1]!r}")
    check(NASTY_OU in odd_row["cells"][2], f"the OU path as text: {odd_row['cells'][2]!r}")
    check(page["new_rows"] == min(total["total"], 100) and page["resolved_rows"] == 0, "new and resolved lists")
    check(page["chart_size"] and page["chart_size"][0] > 600 and page["width"] <= 1280, f"layout {page['chart_size']} {page['width']}")
    check(shot.stat().st_size > 10000, "a screenshot")

    # The consolidated CSV: every delivered report's rows, the account in front.
    cons = list(csv.reader(io.StringIO((folder / f"credential-reports-{run_id}.csv").read_text(), newline="")))
    header = cons[0]
    check(header[:4] == ["account_id", "account_name", "ou_path", "report_generated_time"] and len(header) == 26, f"{header}")
    want_rows = []
    for row in delivered:
        r = list(csv.reader(io.StringIO((folder / f"credentialReport_{row['id']}.csv").read_text(), newline="")))
        check(r[0] == header[4:], "the report's columns follow")
        want_rows += [[row["id"], row["name"], row["ou_path"], row["report_generated_time"]] + x for x in r[1:]]
    check(sorted(cons[1:]) == sorted(want_rows), f"consolidated rows: {len(cons) - 1} vs {len(want_rows)}")

    # The dataset, read by DuckDB with Hive partitioning.
    ds = ctx.tmp / "out" / "dataset"
    for row in delivered:
        p = ds / f"report_date={day}" / f"account_id={row['id']}" / "credential_report.csv"
        check(p.read_bytes() == (folder / f"credentialReport_{row['id']}.csv").read_bytes(), f"{p} is the report")
    got = _node("dataset-duckdb.js", ds)
    check(int(got["total"]) == len(want_rows), f"DuckDB rows {got['total']} vs {len(want_rows)}")
    parts = {p["account_id"]: p for p in got["partitions"]}
    check(sorted(parts) == sorted(r["id"] for r in delivered), f"partitions {sorted(parts)}")
    for row in delivered:
        rep = list(csv.DictReader(io.StringIO((folder / f"credentialReport_{row['id']}.csv").read_text())))
        p = parts[row["id"]]
        first = min(_epoch(r["user_creation_time"]) for r in rep)
        check(p["report_date"] == day and int(p["n"]) == len(rep) and int(p["roots"]) == 1
              and int(p["mfa"]) == sum(r["mfa_active"] == "true" for r in rep)
              and _epoch(p["first_created"].replace(" ", "T") + "+00:00") == first,
              f"{row['id']}: {p} vs {len(rep)} rows")
    types = {t["column_name"]: t["column_type"] for t in got["types"]}
    check(types == {"report_date": "DATE", "account_id": "VARCHAR", "user_creation_time": "TIMESTAMP WITH TIME ZONE",
                    "mfa_active": "BOOLEAN", "password_last_used": "VARCHAR"}, f"types {types}")


COPY_TO_YESTERDAY = """
-- Moves a run's manifest and findings to the day before, as if it had run then.
local delivery = require "credreport.delivery"
local core = require "credreport.core"
local dest = delivery.destination(arg[1])
local client = core.client()
local today, yesterday = arg[2], arg[3]
for _, name in ipairs(assert(delivery.list(client, dest, today))) do
  if name:match("^manifest%-") or name:match("^findings%-") then
    local body = assert(delivery.get(client, dest, today .. "/" .. name))
    assert(delivery.put(client, dest, {checksum = "sha256"}, yesterday .. "/" .. name, body))
    assert(client:s3("DELETE", {bucket = dest.bucket, key = dest.prefix .. "/" .. today .. "/" .. name}))
  end
end
"""


def test_what_changed_since_the_last_run(ctx):
    path, fx, odd = _org(ctx, accounts=6, seed=33, depth=2, max_users=10, role_missing=0, never_complete=0,
                         min_delay_ms=20, max_delay_ms=60)
    emu = ctx.emulator(path)
    bucket, topic = fx["buckets"][0]["name"], fx["topics"][0]["arn"]
    dest = f"s3://{bucket}/cr"
    # Reports generated an hour before the runs: stale, as AWS serves them for up to 4 hours.
    emu.admin("POST", "/advance", {"seconds": -3600})
    out = f"[output]\ndestination = {dest}\n[notify]\nsns_topic_arn = {topic}\n"
    _run(ctx, emu, fx, out + "[findings]\nrotation_days = 3650\nunused_days = 45\n", status=0)
    objects = [o["key"] for o in emu.admin("GET", f"/s3/objects?bucket={bucket}")["objects"]]
    day = next(k.split("/")[1] for k in objects if "/manifest-" in k)
    first = next(k for k in objects if "/findings-" in k)
    before = _lines(emu.admin("GET", f"/s3/object?bucket={bucket}&key={first}", raw=True).decode())
    check(before and all(f["stale_report"] is True and f["report_generated_time"] for f in before),
          "findings of stale reports carry their generation time")
    yesterday = (datetime.date.fromisoformat(day) - datetime.timedelta(days=1)).isoformat()
    script = ctx.tmp / "copy.lua"
    script.write_text(COPY_TO_YESTERDAY)
    run_credreport(ctx, ["run", str(script), dest, day, yesterday], env=ctx.aws_env(emu, **keys_for(fx)),
                   check_status=0)
    check(emu.admin("GET", "/sns/messages")["messages"] == [], "no notification without [findings] notify")

    # The second run: stricter rotation (new findings), laxer idleness (resolved ones). Its
    # listing of the earlier days meets more 503s than a call's attempts: tried again, not
    # taken as no earlier day (every finding new).
    emu.admin("PUT", "/faults", {"rules": [{"type": "error", "service": "s3", "action": "ListObjectsV2",
                                            "status": 503, "code": "ServiceUnavailable", "count": 8}]})
    proc = _run(ctx, emu, fx, out + "[findings]\nrotation_days = 90\nunused_days = 3650\n"
                "notify = critical, high, medium, low\n", status=0)
    check("listing the earlier days failed; trying again" in proc.stderr, proc.stderr[-2000:])
    objects = [o["key"] for o in emu.admin("GET", f"/s3/objects?bucket={bucket}")["objects"]]
    second = next(k for k in objects if "/findings-" in k and k.startswith(f"cr/{day}/"))
    after = _lines(emu.admin("GET", f"/s3/object?bucket={bucket}&key={second}", raw=True).decode())
    ident = lambda f: (f["account"], f["user"], f["check"], f.get("subject"))  # noqa: E731
    old = {ident(f) for f in before}
    current = [f for f in after if f["change"] != "resolved"]
    resolved = [f for f in after if f["change"] == "resolved"]
    new = [f for f in current if f["change"] == "new"]
    check(new and all(ident(f) not in old and f["first_seen"] == day for f in new), "new: not seen yesterday")
    check(all(f["check"] == "key_not_rotated" for f in new), f"only rotation is new: {sorted({f['check'] for f in new})}")
    persisting = [f for f in current if f["change"] == "persisting"]
    first_seen = {ident(f): f["first_seen"] for f in before}
    check(persisting and all(ident(f) in old and f["first_seen"] == first_seen[ident(f)] for f in persisting),
          "persisting: seen yesterday, first_seen carried over")
    check({ident(f) for f in resolved} == old - {ident(f) for f in current} and resolved
          and all(f["check"] == "credentials_unused" for f in resolved), "resolved: yesterday's, gone today")
    m = json.loads(emu.admin("GET", f"/s3/object?bucket={bucket}&key={second.replace('findings-', 'manifest-').replace('.jsonl', '.json')}", raw=True))
    mf = m["findings"]
    check(mf["compared_with"] == yesterday and mf["new"] == len(new) and mf["persisting"] == len(persisting)
          and mf["resolved"] == len(resolved) and mf["total"] == len(current), f"manifest {mf}")
    check(sum(r["findings"]["new"] for r in m["accounts"]) == len(new), "new per account")
    check(f"{len(new)} new, {len(resolved)} resolved since {yesterday}" in proc.stdout, proc.stdout)
    check(f"read the findings of {yesterday} to compare with" in proc.stderr, proc.stderr[-3000:])
    msgs = emu.admin("GET", "/sns/messages")["messages"]
    check(len(msgs) == 1, f"one message per run: {len(msgs)}")
    msg = msgs[0]
    check(f"{len(new)} new finding" in msg["subject"] and m["run_id"] in msg["subject"], msg["subject"])
    listed = [l for l in msg["message"].splitlines() if l.startswith("[")]
    check(len(listed) == min(len(new), 50) and all("key_not_rotated" in l or "rotated" in l for l in listed),
          msg["message"][:2000])
    check(f"since the runs of {yesterday}" in msg["message"] and second.split("/")[-1] in msg["message"], msg["message"][-500:])


def test_a_folder_compares_with_the_day_before(ctx):
    path, fx, _ = _org(ctx, accounts=6, seed=33, depth=2, max_users=10, role_missing=0, never_complete=0,
                       min_delay_ms=20, max_delay_ms=60)
    emu = ctx.emulator(path)
    folder = ctx.tmp / "reports"
    out = f"[output]\ndestination = {folder}\n"
    _run(ctx, emu, fx, out + "[findings]\nrotation_days = 3650\nunused_days = 45\n", status=0)
    (day,) = [d.name for d in folder.iterdir()]
    yesterday = (datetime.date.fromisoformat(day) - datetime.timedelta(days=1)).isoformat()
    (folder / day).rename(folder / yesterday)
    (before,) = (folder / yesterday).glob("findings-*.jsonl")
    old = _lines(before.read_text())
    proc = _run(ctx, emu, fx, out + "[findings]\nrotation_days = 90\nunused_days = 3650\n", status=0)
    (today,) = (folder / day).glob("findings-*.jsonl")
    changes = [f["change"] for f in _lines(today.read_text())]
    new, resolved = changes.count("new"), changes.count("resolved")
    check(old and new and resolved, f"changes {sorted(set(changes))} against {len(old)} findings")
    check(f"{new} new, {resolved} resolved since {yesterday}" in proc.stdout, proc.stdout)


def test_checks_turned_off_replaced_and_added_from_lua(ctx):
    emu = ctx.emulator()
    fx = json.loads((ROOT / "tests/emulator/fixtures/small.json").read_text())
    example = ROOT / "lua" / "examples" / "custom-checks.lua"
    proc = _run(ctx, emu, fx, "", [str(example)], status=0)
    folder = next((ctx.tmp / "reports").glob("20*"))
    lines = _lines(next(folder.glob("findings-*.jsonl")).read_text())
    checks = {f["check"] for f in lines}
    check("key_unused_since_creation" not in checks and "console_user_no_mfa" not in checks, f"turned off: {checks}")
    rot = [f for f in lines if f["check"] == "key_not_rotated"]
    page = next(folder.glob("summary-*.html")).read_text()
    check(rot and all(f["severity"] == "high" for f in rot) and "Access key older than 30 days" in page,
          f"replaced: {rot[:1]}")
    named = [f for f in lines if f["check"] == "user_without_path"]
    check(named and all(f["severity"] == "info" and "cis" not in f for f in named)
          and "An IAM user outside the /people/ or /service/ paths" in page, f"added: {named[:1]}")
    check("findings:" in proc.stdout, proc.stdout)


def test_findings_and_summary_can_be_turned_off(ctx):
    emu = ctx.emulator()
    fx = json.loads((ROOT / "tests/emulator/fixtures/small.json").read_text())
    _run(ctx, emu, fx, "[findings]\nenabled = false\n[output]\nsummary_page = false\n", status=0)
    folder = next((ctx.tmp / "reports").glob("20*"))
    names = sorted(p.name for p in folder.iterdir())
    check(not [n for n in names if n.startswith(("findings-", "summary-", "credential-reports-"))], f"{names}")
    m = json.loads(next(folder.glob("manifest-*.json")).read_text())
    check("findings" not in m and all("findings" not in r for r in m["accounts"]), "no counts")


def test_a_large_findings_file_goes_whole_from_its_spool(ctx):
    """Thousands of findings wait in a temporary file during the run; the findings file is
    sent to S3 from it, read piece by piece as it goes out (signed with its content's hash,
    which the emulator recomputes), and arrives whole: one line per finding the manifest
    counts, for every account."""
    path, fx = generate(ctx, accounts=4, seed=5, depth=1, role_missing=0, never_complete=0, suspended=0,
                        pending_closure=0, closed=0, min_delay_ms=20, max_delay_ms=40)
    mgmt = fx["management_account_id"]
    big = next(a for a in fx["accounts"] if a["id"] != mgmt and a["state"] == "ACTIVE")
    big["users"] = 2000
    path.write_text(json.dumps(fx))
    emu = ctx.emulator(path)
    bucket = fx["buckets"][0]["name"]
    _run(ctx, emu, fx, f"[output]\ndestination = s3://{bucket}/cr\n", status=0)
    keys = [o["key"] for o in emu.admin("GET", f"/s3/objects?bucket={bucket}")["objects"]]
    key = next(k for k in keys if "/findings-" in k)
    body = emu.admin("GET", f"/s3/object?bucket={bucket}&key={key}", raw=True)
    check(len(body) > 4 * 64 * 1024 and body.endswith(b"\n"), f"a findings file of {len(body)} bytes")
    lines = _lines(body.decode())
    m = json.loads(emu.admin("GET", f"/s3/object?bucket={bucket}&key={key.replace('findings-', 'manifest-').replace('.jsonl', '.json')}", raw=True))
    check(len(lines) == m["findings"]["total"], f"{len(lines)} lines, the manifest counts {m['findings']['total']}")
    per_account = {}
    for f in lines:
        per_account[f["account"]] = per_account.get(f["account"], 0) + 1
    for row in m["accounts"]:
        check(per_account.get(row["id"], 0) == row["findings"]["total"], f"account {row['id']}: {row['findings']}")
    check(per_account[big["id"]] > 1000, f"the large account's findings: {per_account[big['id']]}")
