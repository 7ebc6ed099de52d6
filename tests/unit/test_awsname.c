/* The one validator of each AWS name: regions, role session names, account ids, ARNs. */
#include <string.h>

#include "aws/awsname.h"
#include "unit.h"

static void test_regions(void)
{
    static const char *const good[] = {"us-east-1", "cn-northwest-1", "us-gov-west-1",
                                       "eu-isoe-west-1", "a", "abcdefghijklmnopqrstuvwxyz01234"};
    static const char *const bad[] = {"", "US-EAST-1", "us east 1", "us_east_1", "us-east-1.",
                                      "us-east-1/x", "abcdefghijklmnopqrstuvwxyz012345"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECK(awsname_region(good[i]), "region '%s' accepted", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(!awsname_region(bad[i]), "region '%s' refused", bad[i]);
    CHECK(!awsname_region(NULL), "NULL refused");
}

static void test_session_names(void)
{
    CHECK(awsname_session_name("credreport"), "plain");
    CHECK(awsname_session_name("ab"), "2 characters");
    CHECK(awsname_session_name("a_b+c=d,e.f@g-h"), "every allowed sign");
    char max[65];
    memset(max, 'x', 64);
    max[64] = '\0';
    CHECK(awsname_session_name(max), "64 characters");
    max[63] = ' ';
    CHECK(!awsname_session_name(max), "a space");
    char over[66];
    memset(over, 'x', 65);
    over[65] = '\0';
    CHECK(!awsname_session_name(over), "65 characters");
    CHECK(!awsname_session_name("a"), "1 character");
    CHECK(!awsname_session_name("a/b"), "a slash");
    CHECK(!awsname_session_name(NULL), "NULL");
}

static void test_accounts_and_arns(void)
{
    CHECK(awsname_account_id("123456789012"), "12 digits");
    CHECK(!awsname_account_id("12345678901"), "11 digits");
    CHECK(!awsname_account_id("1234567890123"), "13 digits");
    CHECK(!awsname_account_id("12345678901a"), "a letter");

    const char *r = awsname_arn_resource("arn:aws:sns:eu-west-1:123456789012:alerts", "sns");
    CHECK(r && strcmp(r, "alerts") == 0, "SNS topic ARN");
    r = awsname_arn_resource("arn:aws-cn:kms:cn-north-1:123456789012:key/abc", "kms");
    CHECK(r && strcmp(r, "key/abc") == 0, "China partition");
    CHECK(!awsname_arn_resource("arn:aws:sns::123456789012:alerts", "sns"), "SNS needs a region");
    CHECK(!awsname_arn_resource("arn:aws:iam:us-east-1:123456789012:role/x", "iam"), "IAM has none");
    CHECK(!awsname_arn_resource("arn:aws:sqs:eu-west-1:123456789012:q", "sns"), "another service");
    CHECK(!awsname_arn_resource("arn:aws:sns:eu-west-1:12345678901:alerts", "sns"), "11 digits");
    CHECK(!awsname_arn_resource("arm:aws:sns:eu-west-1:123456789012:alerts", "sns"), "not arn:");

    CHECK(awsname_role_arn("arn:aws:iam::123456789012:role/OrganizationAccountAccessRole"), "role");
    CHECK(awsname_role_arn("arn:aws-us-gov:iam::123456789012:role/audit/team/Reader"), "with a path");
    CHECK(!awsname_role_arn("arn:aws:iam::123456789012:user/alice"), "a user");
    CHECK(!awsname_role_arn("arn:aws:iam::123456789012:role/"), "no name");
    CHECK(!awsname_role_arn("arn:aws:iam::123456789012:role/audit/"), "a path without a name");
    CHECK(!awsname_role_arn("role/Admin"), "not an ARN");
    CHECK(!awsname_role_arn(NULL), "NULL");
}

int main(void)
{
    test_regions();
    test_session_names();
    test_accounts_and_arns();
    return unit_report("test_awsname");
}
