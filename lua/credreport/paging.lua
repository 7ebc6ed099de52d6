-- Guards a listing against an endpoint that never ends it: a page token seen before, or more
-- pages than any real listing has ([aws] max_pages), stops it with an EndlessListing error.
local config = require "credreport.config"

local M = {}

-- Returns check(token): call it before requesting each page (token nil for the first); it
-- returns nil, or the error that must end the listing.
function M.guard(what)
  local seen, pages = {}, 0
  local limit = config.aws and config.aws.max_pages or 10000
  return function(token)
    pages = pages + 1
    if pages > limit then
      return {code = "EndlessListing",
              message = ("%s: more than %d pages; stopped (see [aws] max_pages)"):format(what, limit)}
    end
    if token then
      if seen[token] then
        return {code = "EndlessListing", message = ("%s: the same page token came back; stopped"):format(what)}
      end
      seen[token] = true
    end
  end
end

return M
