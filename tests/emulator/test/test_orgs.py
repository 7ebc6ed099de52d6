import json

from harness import MEMBER, EmuTestCase, Emulator, load_small, write_fixture

TARGET = "AWSOrganizationsV20161128."


def raw_orgs(emu, op, params=None, creds=None):
    kw = {"creds": creds} if creds else {}
    return emu.raw("organizations", body=json.dumps(params or {}).encode(), headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + op}, **kw)


class OrganizationsTest(EmuTestCase):
    def test_list_accounts_paging(self):
        org = self.emu.client("organizations")
        ids, pages, token = [], 0, None
        while True:
            kw = {"MaxResults": 2}
            if token:
                kw["NextToken"] = token
            r = org.list_accounts(**kw)
            pages += 1
            ids += [a["Id"] for a in r["Accounts"]]
            self.assertLessEqual(len(r["Accounts"]), 2)
            token = r.get("NextToken")
            if not token:
                break
        self.assertEqual(pages, 3)
        self.assertEqual(len(ids), 6)
        self.assertEqual(len(set(ids)), 6)
        self.assertIn("111111111111", ids)

    def test_paginator_default_page_size(self):
        org = self.emu.client("organizations")
        accts = [a for p in org.get_paginator("list_accounts").paginate() for a in p["Accounts"]]
        self.assertEqual(len(accts), 6)

    def test_account_wire_fields(self):
        status, headers, body = raw_orgs(self.emu, "ListAccounts")
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/x-amz-json-1.1")
        self.assertIn("x-amzn-requestid", headers)
        accts = {a["Id"]: a for a in json.loads(body)["Accounts"]}
        a = accts["333333333333"]
        self.assertEqual(a["State"], "ACTIVE")
        self.assertEqual(a["Status"], "ACTIVE")
        self.assertIsInstance(a["JoinedTimestamp"], (int, float))
        self.assertEqual(a["Arn"], "arn:aws:organizations::111111111111:account/o-exampleorg1/333333333333")
        self.assertEqual(accts["555555555555"]["State"], "SUSPENDED")
        self.assertEqual(accts["555555555555"]["Status"], "SUSPENDED")
        self.assertEqual(accts["666666666666"]["State"], "CLOSED")
        self.assertNotIn("Status", accts["666666666666"])
        for k in ("Id", "Arn", "Email", "Name", "JoinedMethod"):
            self.assertIn(k, a)

    def test_max_results_bounds(self):
        org = self.emu.client("organizations", validate=False)
        self.assertCode(lambda: org.list_accounts(MaxResults=21), "InvalidInputException", 400)
        self.assertCode(lambda: org.list_accounts(MaxResults=0), "InvalidInputException", 400)
        self.assertCode(lambda: org.list_accounts(NextToken="garbage"), "InvalidInputException", 400)

    def test_roots_ous_children(self):
        org = self.emu.client("organizations")
        roots = org.list_roots()["Roots"]
        self.assertEqual([r["Id"] for r in roots], ["r-ex12"])
        ous = org.list_organizational_units_for_parent(ParentId="r-ex12")["OrganizationalUnits"]
        self.assertEqual(sorted(o["Name"] for o in ous), ["Security", "Workloads"])
        sub = org.list_organizational_units_for_parent(ParentId="ou-ex12-workload")["OrganizationalUnits"]
        self.assertEqual(sorted(o["Id"] for o in sub), ["ou-ex12-dev00001", "ou-ex12-prod0001"])
        accts = org.list_accounts_for_parent(ParentId="ou-ex12-dev00001")["Accounts"]
        self.assertEqual(sorted(a["Id"] for a in accts), ["444444444444", "555555555555"])
        kids = org.list_children(ParentId="r-ex12", ChildType="ACCOUNT")["Children"]
        self.assertEqual(sorted(k["Id"] for k in kids), ["111111111111", "666666666666"])
        self.assertTrue(all(k["Type"] == "ACCOUNT" for k in kids))
        kids = org.list_children(ParentId="r-ex12", ChildType="ORGANIZATIONAL_UNIT", MaxResults=1)
        self.assertEqual(len(kids["Children"]), 1)
        self.assertIn("NextToken", kids)

    def test_parent_not_found(self):
        org = self.emu.client("organizations")
        self.assertCode(lambda: org.list_accounts_for_parent(ParentId="ou-ex12-zzzzzzzz"), "ParentNotFoundException", 400)
        self.assertCode(lambda: org.list_children(ParentId="r-zzzz", ChildType="ACCOUNT"), "ParentNotFoundException")
        self.assertCode(lambda: org.list_organizational_units_for_parent(ParentId="ou-ex12-zzzzzzzz"), "ParentNotFoundException")

    def test_describe_and_tags(self):
        org = self.emu.client("organizations")
        o = org.describe_organization()["Organization"]
        self.assertEqual(o["Id"], "o-exampleorg1")
        self.assertEqual(o["MasterAccountId"], "111111111111")
        tags = org.list_tags_for_resource(ResourceId="333333333333")["Tags"]
        self.assertEqual({t["Key"]: t["Value"] for t in tags}, {"owner": "team-a", "env": "prod"})
        tags = org.list_tags_for_resource(ResourceId="ou-ex12-prod0001")["Tags"]
        self.assertEqual(tags, [{"Key": "env", "Value": "prod"}])
        self.assertCode(lambda: org.list_tags_for_resource(ResourceId="999999999999"), "TargetNotFoundException")
        ou = org.describe_organizational_unit(OrganizationalUnitId="ou-ex12-prod0001")["OrganizationalUnit"]
        self.assertEqual((ou["Id"], ou["Name"]), ("ou-ex12-prod0001", "Prod"))
        self.assertCode(lambda: org.describe_organizational_unit(OrganizationalUnitId="ou-ex12-nothere0"),
                        "OrganizationalUnitNotFoundException")

    def test_member_account_denied(self):
        org = self.emu.client("organizations", creds=MEMBER)
        self.assertCode(lambda: org.list_accounts(), "AccessDeniedException", 400)
        # Assumed-role credentials in a member account are denied too.
        org = self.emu.client("organizations", creds=self.emu.assume("333333333333"))
        self.assertCode(lambda: org.list_roots(), "AccessDeniedException")

    def test_empty_page_fault(self):
        self.emu.set_faults({"rules": [{"type": "empty_page", "service": "organizations", "action": "ListAccounts", "count": 1}]})
        org = self.emu.client("organizations")
        r = org.list_accounts()
        self.assertEqual(r["Accounts"], [])
        self.assertIn("NextToken", r)
        r2 = org.list_accounts(NextToken=r["NextToken"])
        self.assertEqual(len(r2["Accounts"]), 6)

    def test_blank_token_fault(self):
        self.emu.set_faults({"rules": [{"type": "blank_token", "service": "organizations", "action": "ListAccounts"}]})
        org = self.emu.client("organizations")
        first = org.list_accounts(MaxResults=4)
        self.assertEqual(len(first["Accounts"]), 4)
        last = org.list_accounts(MaxResults=4, NextToken=first["NextToken"])
        self.assertEqual((len(last["Accounts"]), last["NextToken"]), (2, ""))
        self.assertCode(lambda: org.list_accounts(NextToken=""), "InvalidInputException", 400)

    def test_serialization_error(self):
        status, _, body = self.emu.raw("organizations", body=b"not json", headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + "ListRoots"})
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["__type"], "SerializationException")


class EmptyPagesFixtureTest(EmuTestCase):
    @classmethod
    def setUpClass(cls):
        f = load_small()
        f["empty_pages"] = True
        cls.fixture = write_fixture(f)
        super().setUpClass()

    def test_paginator_survives_empty_pages(self):
        org = self.emu.client("organizations")
        first = org.list_accounts(MaxResults=5)
        self.assertEqual(first["Accounts"], [])
        self.assertIn("NextToken", first)
        pages = list(org.get_paginator("list_accounts").paginate(PaginationConfig={"PageSize": 5}))
        self.assertEqual(sum(len(p["Accounts"]) for p in pages), 6)
        self.assertEqual(pages[0]["Accounts"], [])
        self.assertEqual(pages[-1]["Accounts"], [])
        self.assertNotIn("NextToken", pages[-1])


class GeneratedOrgTest(EmuTestCase):
    @classmethod
    def setUpClass(cls):
        import subprocess
        import os
        from harness import EMU_DIR
        out = subprocess.run(["node", os.path.join(EMU_DIR, "gen-org.js"), "--accounts", "300", "--seed", "5", "--depth", "3"],
                             check=True, capture_output=True).stdout
        again = subprocess.run(["node", os.path.join(EMU_DIR, "gen-org.js"), "--accounts", "300", "--seed", "5", "--depth", "3"],
                               check=True, capture_output=True).stdout
        assert out == again, "generator is not deterministic"
        cls.gen = json.loads(out)
        cls.fixture = write_fixture(cls.gen)
        super().setUpClass()

    def test_generated_org(self):
        states = {}
        for a in self.gen["accounts"]:
            states[a["state"]] = states.get(a["state"], 0) + 1
        self.assertGreater(states.get("SUSPENDED", 0), 0)
        self.assertGreater(states.get("CLOSED", 0), 0)
        self.assertGreater(states.get("PENDING_CLOSURE", 0), 0)
        self.assertEqual(sum(1 for a in self.gen["accounts"] if a.get("report_never_completes")), 1)
        self.assertGreater(sum(1 for a in self.gen["accounts"] if a.get("role_missing")), 1)
        org = self.emu.client("organizations")
        accts = [a for p in org.get_paginator("list_accounts").paginate() for a in p["Accounts"]]
        self.assertEqual(len(accts), 300)
        # Walking the OU tree finds every account exactly once.
        seen, stack = [], [org.list_roots()["Roots"][0]["Id"]]
        depth_ous = 0
        while stack:
            parent = stack.pop()
            for p in org.get_paginator("list_accounts_for_parent").paginate(ParentId=parent):
                seen += [a["Id"] for a in p["Accounts"]]
            for p in org.get_paginator("list_organizational_units_for_parent").paginate(ParentId=parent):
                for ou in p["OrganizationalUnits"]:
                    depth_ous += 1
                    stack.append(ou["Id"])
        self.assertEqual(sorted(seen), sorted(a["Id"] for a in accts))
        self.assertEqual(depth_ous, 3 + 9 + 27)
