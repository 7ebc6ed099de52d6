-- The run's summary page, {date}/summary-{run_id}.html: one self-contained HTML file (inline
-- CSS and SVG, no script, nothing fetched from elsewhere) that opens from S3 or a laptop and
-- prints well. Every text that comes from AWS or a script is escaped.
local core = require "credreport.core"

local M = {}

M.MAX_ROWS = 100 -- accounts ranked, and new and resolved findings listed, at most
M.MAX_FAILURES = 20 -- failed accounts named in the printed summary; more are counted

function M.key(run)
  return ("%s/summary-%s.html"):format(run.date, run.id)
end

local REPLACEMENT = "\239\191\189" -- U+FFFD
local ESC = {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;"}

-- Text safe in HTML content and attribute values: markup characters as entities, control
-- characters (invalid in HTML) as U+FFFD.
function M.escape(s)
  return (tostring(s == nil and "" or s):gsub("[%c&<>\"']", function(c) return ESC[c] or REPLACEMENT end))
end
local esc = M.escape

-- 12345 -> "12,345"
local function num(n)
  local s = tostring(math.tointeger(n) or n or 0)
  local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (out:gsub("^,", ""):gsub("^%-,", "-"))
end

local COLORS = {critical = "#8b1a1a", high = "#d9480f", medium = "#e8a317", low = "#4a7fb0", info = "#7d8a96"}
local SEVERITIES = {"critical", "high", "medium", "low", "info"}
local RANK = {critical = 1, high = 2, medium = 3, low = 4, info = 5}

local CSS = [[
:root{--fg:#1d2330;--muted:#5b6475;--line:#d9dee7;--bg:#f6f7f9;--ok:#2b7a3d;--bad:#b3261e}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:#fff}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
.meta{color:var(--muted);margin:0 0 16px}
.status{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600;color:#fff}
.status.ok{background:var(--ok)}.status.bad{background:var(--bad)}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{flex:1 1 120px;background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:10px 12px}
.card .n{font-size:22px;font-weight:650;display:block}
.card .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.sev{display:inline-block;min-width:64px;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600;text-align:center}
table{border-collapse:collapse;width:100%;margin:6px 0 4px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:12px;color:var(--muted);text-transform:uppercase;letter-spacing:.03em;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px;word-break:break-all}
.note{color:var(--muted);font-size:12.5px}
.new{color:var(--bad);font-weight:600}
svg text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;fill:#1d2330}
@media print{main{padding:0;max-width:none}h2{break-after:avoid}tr{break-inside:avoid}.card{border-color:#999}}
]]

local function sev_badge(s)
  return ('<span class="sev" style="background:%s">%s</span>'):format(COLORS[s] or "#555", esc(s))
end

local function card(id, n, label)
  return ('<div class="card"><span class="n" data-count="%s">%s</span><span class="l">%s</span></div>'):format(
    esc(id), num(n), esc(label))
end

-- Horizontal bars: one per check, coloured by its severity, longest first.
local function chart(by_check)
  local rows = {}
  for _, c in pairs(by_check) do rows[#rows + 1] = c end
  table.sort(rows, function(a, b)
    if a.total ~= b.total then return a.total > b.total end
    return a.check < b.check
  end)
  if #rows == 0 then return '<p class="note">No findings.</p>' end
  local max = rows[1].total
  local label_w, bar_w, h = 300, 600, 26
  local out = {('<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Findings by check and severity" '
    .. 'width="100%%" viewBox="0 0 %d %d" data-chart="by-check">'):format(label_w + bar_w + 70, #rows * h + 34)}
  for i, c in ipairs(rows) do
    local y = (i - 1) * h
    local w = math.max(2, math.floor(bar_w * c.total / max + 0.5))
    out[#out + 1] = ('<text x="%d" y="%d" text-anchor="end">%s</text>'):format(label_w - 8, y + 17, esc(c.check))
    out[#out + 1] = ('<rect x="%d" y="%d" width="%d" height="%d" rx="3" fill="%s"><title>%s: %s</title></rect>'):format(
      label_w, y + 4, w, h - 8, COLORS[c.severity] or "#555", esc(c.title), num(c.total))
    out[#out + 1] = ('<text x="%d" y="%d" data-check="%s" data-count="%d">%s</text>'):format(
      label_w + w + 6, y + 17, esc(c.check), c.total, num(c.total))
  end
  local x, y = label_w, #rows * h + 20
  for _, s in ipairs(SEVERITIES) do
    out[#out + 1] = ('<rect x="%d" y="%d" width="12" height="12" rx="2" fill="%s"/><text x="%d" y="%d">%s</text>'):format(
      x, y - 10, COLORS[s], x + 16, y, s)
    x = x + 90
  end
  out[#out + 1] = "</svg>"
  return table.concat(out, "\n")
end

-- list: the most severe findings (findings lines as tables); total: how many there are in all.
local function findings_table(list, kind, total, by_check)
  if #list == 0 then return '<p class="note" data-list="' .. kind .. '">None.</p>' end
  local out = {'<table data-list="' .. kind .. '"><thead><tr><th>Severity</th><th>Account</th><th>User</th>'
    .. '<th>Check</th><th>Subject</th></tr></thead><tbody>'}
  local shown = math.min(#list, M.MAX_ROWS)
  for i = 1, shown do
    local f = list[i]
    local c = by_check[f.check]
    out[#out + 1] = ('<tr><td>%s</td><td class="mono">%s<br><span class="note">%s</span></td><td class="mono">%s</td>'
      .. '<td>%s</td><td>%s</td></tr>'):format(sev_badge(f.severity), esc(f.account), esc(f.account_name),
      esc(f.user), esc(c and c.title or f.check), esc(f.subject or ""))
  end
  out[#out + 1] = "</tbody></table>"
  if total > shown then
    out[#out + 1] = ('<p class="note">The %s most severe of %s: the findings file has them all.</p>'):format(
      num(shown), num(total))
  end
  return table.concat(out, "\n")
end

-- m: the manifest (manifest.build); flog: the findings log (findings.log) or nil;
-- files: {findings =, manifest =, consolidated =} locations to mention.
function M.html(m, flog, files)
  local s = m.summary
  local failed = {}
  for _, row in ipairs(m.accounts) do
    if row.status == "failed" then failed[#failed + 1] = row end
  end
  local ok = s.failed == 0 and not m.discovery_error and not m.interrupted_by
  local out = {'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    "<title>credreport run " .. esc(m.run_id) .. "</title><style>" .. CSS .. "</style></head><body><main>",
    "<h1>IAM credential reports: run " .. esc(m.run_id) .. "</h1>",
    ('<p class="meta">Started %s, finished %s &middot; %s &middot; credreport %s%s</p>'):format(
      esc(m.started), esc(m.finished), esc(m.destination), esc(m.version),
      m.shard and (" &middot; shard " .. esc(m.shard)) or ""),
    ('<p><span class="status %s" data-status="%s">%s</span></p>'):format(ok and "ok" or "bad", ok and "ok" or "failed",
      ok and "Every account in scope was delivered" or
      (m.interrupted_by and ("Stopped by " .. esc(m.interrupted_by)) or
       m.discovery_error and "The organization could not be listed completely" or
       (num(s.failed) .. " account(s) failed"))),
    '<div class="cards">', card("in_scope", s.in_scope, "accounts in scope"), card("delivered", s.delivered, "delivered"),
    card("failed", s.failed, "failed"), card("skipped", s.skipped, "kept back")}
  if flog then
    local c = flog.counts
    out[#out + 1] = card("findings", c.total, "findings")
    out[#out + 1] = card("new", c.new, "new since last run")
    out[#out + 1] = card("resolved", c.resolved, "resolved")
  end
  out[#out + 1] = "</div>"

  out[#out + 1] = "<h2>Failed accounts</h2>"
  if m.discovery_error then
    out[#out + 1] = ('<p class="new">The organization could not be listed completely: %s: %s</p>'):format(
      esc(m.discovery_error.code), esc(m.discovery_error.message))
  end
  if #failed == 0 then
    out[#out + 1] = '<p class="note" data-list="failed">None.</p>'
  else
    out[#out + 1] = '<table data-list="failed"><thead><tr><th>Account</th><th>Name</th><th>OU path</th><th>Error</th></tr></thead><tbody>'
    for _, row in ipairs(failed) do
      local e = row.error or {}
      out[#out + 1] = ('<tr data-account="%s"><td class="mono">%s</td><td>%s</td><td>%s</td><td><b>%s</b>: %s</td></tr>'):format(
        esc(row.id), esc(row.id), esc(row.name), esc(row.ou_path), esc(e.code), esc(e.message))
    end
    out[#out + 1] = "</tbody></table>"
  end

  if flog then
    local c = flog.counts
    out[#out + 1] = "<h2>Findings by check and severity</h2>"
    out[#out + 1] = '<div class="cards">'
    for _, sv in ipairs(SEVERITIES) do
      out[#out + 1] = ('<div class="card"><span class="n" data-severity="%s" data-count="%d">%s</span><span class="l">%s</span></div>'):format(
        sv, c[sv] or 0, num(c[sv] or 0), sev_badge(sv))
    end
    out[#out + 1] = "</div>"
    out[#out + 1] = chart(flog.by_check)
    local checks = {}
    for _, bc in pairs(flog.by_check) do checks[#checks + 1] = bc end
    table.sort(checks, function(a, b)
      if RANK[a.severity] ~= RANK[b.severity] then return (RANK[a.severity] or 9) < (RANK[b.severity] or 9) end
      return a.check < b.check
    end)
    out[#out + 1] = '<table data-list="checks"><thead><tr><th>Check</th><th>CIS</th><th>Severity</th>'
      .. '<th class="n">Findings</th><th class="n">New</th></tr></thead><tbody>'
    for _, bc in ipairs(checks) do
      out[#out + 1] = ('<tr data-check="%s"><td>%s<br><span class="note mono">%s</span></td><td>%s</td><td>%s</td>'
        .. '<td class="n" data-count="%d">%s</td><td class="n">%s</td></tr>'):format(
        esc(bc.check), esc(bc.title), esc(bc.check), esc(bc.cis or ""), sev_badge(bc.severity), bc.total, num(bc.total), num(bc.new))
    end
    out[#out + 1] = "</tbody></table>"

    local ranked = {}
    for _, row in ipairs(m.accounts) do
      if row.findings and row.findings.total > 0 then ranked[#ranked + 1] = row end
    end
    table.sort(ranked, function(a, b)
      for _, sv in ipairs(SEVERITIES) do
        local x, y = a.findings[sv] or 0, b.findings[sv] or 0
        if x ~= y then return x > y end
      end
      return a.id < b.id
    end)
    out[#out + 1] = ("<h2>Accounts ranked by findings</h2>")
    out[#out + 1] = ('<p class="note"><span data-count="accounts_with_findings">%s</span> account(s) with findings, the worst first.</p>'):format(num(#ranked))
    out[#out + 1] = '<table data-list="accounts"><thead><tr><th>Account</th><th>Name</th><th>OU path</th>'
    for _, sv in ipairs(SEVERITIES) do out[#out + 1] = '<th class="n">' .. sv .. "</th>" end
    out[#out + 1] = '<th class="n">Total</th><th class="n">New</th></tr></thead><tbody>'
    for i = 1, math.min(#ranked, M.MAX_ROWS) do
      local row = ranked[i]
      local cells = {}
      for _, sv in ipairs(SEVERITIES) do cells[#cells + 1] = ('<td class="n">%s</td>'):format(num(row.findings[sv] or 0)) end
      out[#out + 1] = ('<tr data-account="%s"><td class="mono">%s</td><td>%s</td><td>%s</td>%s<td class="n" data-count="%d">%s</td><td class="n">%s</td></tr>'):format(
        esc(row.id), esc(row.id), esc(row.name), esc(row.ou_path), table.concat(cells), row.findings.total,
        num(row.findings.total), num(row.findings.new or 0))
    end
    out[#out + 1] = "</tbody></table>"
    if #ranked > M.MAX_ROWS then
      out[#out + 1] = ('<p class="note">%s more accounts in the manifest.</p>'):format(num(#ranked - M.MAX_ROWS))
    end

    out[#out + 1] = "<h2>What changed since the last run</h2>"
    if flog.baseline then
      out[#out + 1] = ('<p>Compared with the runs of <b data-baseline="%s">%s</b>: <span class="new">%s new</span>, %s persisting, %s resolved.</p>'):format(
        esc(flog.baseline.date), esc(flog.baseline.date), num(c.new), num(c.persisting), num(c.resolved))
    else
      out[#out + 1] = '<p data-baseline="">No earlier run with findings at this destination: every finding is new.</p>'
    end
    out[#out + 1] = "<h3>New</h3>" .. findings_table((flog:new_in()), "new", c.new, flog.by_check)
    out[#out + 1] = "<h3>Resolved</h3>" .. findings_table(flog:resolved_list(), "resolved", c.resolved, flog.by_check)
  end
  out[#out + 1] = '<h2>Files</h2><table><tbody>'
  for _, f in ipairs{{"Manifest", files.manifest}, {"Findings", files.findings}, {"Consolidated CSV", files.consolidated}} do
    if f[2] then out[#out + 1] = ("<tr><td>%s</td><td class=\"mono\">%s</td></tr>"):format(f[1], esc(f[2])) end
  end
  out[#out + 1] = "</tbody></table></main></body></html>\n"
  return table.concat(out, "\n")
end

-- The summary printed at the end of a run (and published with [notify] on = always), from
-- the manifest (manifest.build) and its counts: what was delivered, failures one per line
-- (but not hundreds: the manifest has them all), why the run is incomplete, the findings and
-- where the files are. flog: the findings log or nil; files: the locations written, as for
-- html, plus summary; summary_page: whether a summary page was to be written. Lines are
-- passed through core.printable: names and messages come from AWS.
function M.text(m, counts, flog, files, summary_page)
  local lines = {("credreport run %s: %d account(s) in scope, %d delivered, %d failed%s"):format(
    m.run_id, m.summary.in_scope, counts.delivered, counts.failed,
    counts.skipped > 0 and (", %d kept back by on_report"):format(counts.skipped) or "")}
  if counts.resumed > 0 then
    lines[#lines + 1] = ("  %d delivered earlier today (--resume)"):format(counts.resumed)
  end
  local shown, more, not_started = 0, 0, 0
  for _, row in ipairs(m.accounts) do
    if row.status == "failed" then
      if row.error.code == "Interrupted" and tostring(row.error.message):find("^not started") then
        not_started = not_started + 1
      elseif shown < M.MAX_FAILURES then
        shown = shown + 1
        lines[#lines + 1] = core.printable(("  failed %s (%s): %s: %s"):format(row.id, row.name,
                                           tostring(row.error.code), tostring(row.error.message)))
      else
        more = more + 1
      end
    end
  end
  if more > 0 then lines[#lines + 1] = ("  ... and %d more failed (see the manifest)"):format(more) end
  if not_started > 0 then
    lines[#lines + 1] = ("  %d account(s) not started: the run was stopped"):format(not_started)
  end
  for _, r in ipairs(m.requested_not_processed or {}) do
    lines[#lines + 1] = core.printable(("  asked for but not processed: %s (%s)"):format(r.id, r.reason))
  end
  if m.summary.in_scope == 0 and not m.discovery_error and not m.interrupted_by then
    lines[#lines + 1] = "  no account is in scope: nothing was collected (credreport accounts shows "
      .. "what was found and why each account is out of scope)"
  end
  if m.discovery_error then
    lines[#lines + 1] = core.printable("  the organization could not be listed completely: " ..
      tostring(m.discovery_error.code) .. ": " .. tostring(m.discovery_error.message))
  end
  if m.interrupted_by then
    lines[#lines + 1] = "  stopped by " .. m.interrupted_by .. ": accounts not finished are marked Interrupted"
  end
  if flog then
    local c = flog.counts
    local parts = {}
    for _, sv in ipairs(SEVERITIES) do
      if c[sv] > 0 then parts[#parts + 1] = ("%d %s"):format(c[sv], sv) end
    end
    lines[#lines + 1] = ("findings: %d%s; %s: %s"):format(c.total,
      #parts > 0 and (" (" .. table.concat(parts, ", ") .. ")") or "",
      flog.baseline and ("%d new, %d resolved since %s"):format(c.new, c.resolved, flog.baseline.date)
        or "no earlier run to compare with", tostring(files.findings or "NOT WRITTEN"))
  end
  if files.consolidated then lines[#lines + 1] = "consolidated CSV: " .. files.consolidated end
  if summary_page then lines[#lines + 1] = "summary page: " .. tostring(files.summary or "NOT WRITTEN") end
  lines[#lines + 1] = "manifest: " .. tostring(files.manifest or "NOT WRITTEN")
  return table.concat(lines, "\n")
end

return M
