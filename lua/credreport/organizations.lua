-- Organization discovery: the whole organization or OU subtrees, walked in parallel, with
-- each account handed to `emit` as soon as its listing page arrives. Organizations allows few
-- requests per second per account, shared with every other tool that calls it: the calls in
-- flight at once are as many as the thread's connections to the endpoint (a run's main thread
-- keeps 16, core/main.c), and the core queues the others.
local core = require "credreport.core"
local paging = require "credreport.paging"
local all = require("credreport.tasks").all
local patience = require "credreport.patience"
local cjson = require "cjson"

local M = {}

-- Listing is the foundation of a run: a call that failed for a passing reason is tried
-- again (credreport.patience) until the listing has gone `budget` seconds (M.budget, or
-- discover's) without a call that succeeded; outside a discovery, until the call has been
-- failing that long.
M.budget = 600
local listing -- during a discovery: its window (patience.window), shared by its calls

local function call(client, op, params)
  if core.stopping() then return nil, patience.stopped("listing the organization") end
  return patience.call(function() return client:json("organizations", op, params) end,
                  listing or patience.window(M.budget),
                  {doing = "listing the organization", operation = op})
end

local function present(v)
  return v ~= nil and v ~= cjson.null
end

-- Calls op page by page (Organizations keeps paging while NextToken is present, even after
-- an empty page) and calls on_item for every element of result[key]. An empty NextToken ends
-- the listing, as it does in the SDKs' paginators: some implementations write an absent token
-- that way, and sending it back is an invalid request.
function M.each(client, op, params, key, on_item)
  local token
  local next_page = paging.guard("Organizations " .. op)
  repeat
    local perr = next_page(token)
    if perr then return nil, perr end
    local p = {}
    for k, v in pairs(params or {}) do p[k] = v end
    p.NextToken = token
    local res, err = call(client, op, p)
    if not res then return nil, err end
    for _, item in ipairs(present(res[key]) and res[key] or {}) do
      local ok, stop = on_item(item)
      if ok == false then return nil, stop end
    end
    token = present(res.NextToken) and res.NextToken ~= "" and res.NextToken or nil
  until not token
  return true
end

-- The account record every module uses. `State` is authoritative; the older `Status` is read
-- only when `State` is absent.
function M.account(raw, ou_id, ou_path)
  local state = present(raw.State) and raw.State or (present(raw.Status) and raw.Status or "UNKNOWN")
  return {
    id = tostring(present(raw.Id) and raw.Id or ""), name = present(raw.Name) and tostring(raw.Name) or "",
    email = present(raw.Email) and tostring(raw.Email) or "",
    arn = present(raw.Arn) and raw.Arn or "", state = state, ou_id = ou_id, ou_path = ou_path,
  }
end

-- A missing OU is named: it is usually a typo in [accounts] ous or --ou.
local function name_parent(err, parent_id)
  if type(err) == "table" and err.code == "ParentNotFoundException" then
    err.message = ("the OU or root %s does not exist (check [accounts] ous / --ou): %s"):format(
      parent_id, tostring(err.message))
  end
  return err
end

-- Walks the subtree under parent_id: its accounts and, in parallel, every child OU.
function M.walk(client, parent_id, path, emit)
  local children = {}
  local function list_accounts()
    local ok, err = M.each(client, "ListAccountsForParent", {ParentId = parent_id}, "Accounts", function(raw)
      emit(M.account(raw, parent_id, path))
    end)
    return ok, name_parent(err, parent_id)
  end
  local function list_ous()
    local subtrees = {}
    local ok, err = M.each(client, "ListOrganizationalUnitsForParent", {ParentId = parent_id},
      "OrganizationalUnits", function(ou)
        local child_path = path .. "/" .. (present(ou.Name) and ou.Name or ou.Id)
        subtrees[#subtrees + 1] = function() return M.walk(client, ou.Id, child_path, emit) end
      end)
    if not ok then return nil, name_parent(err, parent_id) end
    return all(subtrees)
  end
  children[1], children[2] = list_accounts, list_ous
  return all(children)
end

local function walk_all(client, ous, emit)
  if not ous or #ous == 0 then
    local roots = {}
    local ok, err = M.each(client, "ListRoots", {}, "Roots", function(r) roots[#roots + 1] = r end)
    if not ok then return nil, err end
    ous = {}
    for _, r in ipairs(roots) do ous[#ous + 1] = r.Id end
  end
  local walks = {}
  for _, id in ipairs(ous) do
    walks[#walks + 1] = function()
      local name = id:match("^r%-") and "Root" or id
      if id:match("^ou%-") then
        local res = call(client, "DescribeOrganizationalUnit", {OrganizationalUnitId = id})
        if res and res.OrganizationalUnit and present(res.OrganizationalUnit.Name) then
          name = res.OrganizationalUnit.Name
        end
      end
      return M.walk(client, id, name, emit)
    end
  end
  return all(walks)
end

-- The whole organization (from its root), or the subtrees of the given OU or root ids.
-- Failures that may pass are retried until the listing has gone `budget` seconds (default
-- M.budget) without a call that succeeded.
function M.discover(client, ous, emit, budget)
  listing = patience.window(budget or M.budget)
  local ok, res, err = pcall(walk_all, client, ous, emit)
  listing = nil
  if not ok then error(res, 0) end
  return res, err
end

-- Tags of one account, as {key = value}.
function M.tags(client, account_id)
  local tags = {}
  local ok, err = M.each(client, "ListTagsForResource", {ResourceId = account_id}, "Tags", function(t)
    tags[t.Key] = t.Value
  end)
  if not ok then return nil, err end
  return tags
end

return M
