-- The bundled organization-wide workflow: every account in scope (by default the whole
-- organization, accounts whose State is ACTIVE), the management account with the caller's
-- own credentials, reports under {date}/credentialReport_{account}.csv. Every setting comes
-- from config.ini or the command line.
return require("credreport.workflow").new()
