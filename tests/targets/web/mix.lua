-- wrk script: each connection cycles through the shop's views in turn, so
-- every view is requested about as often as the others. The paths can be
-- given after "--" on wrk's command line; by default, all four views.
local paths = { "/cpu", "/compress", "/sleep", "/hello" }
local n = 0

init = function(args)
	if #args > 0 then
		paths = args
	end
end

request = function()
	n = n + 1
	return wrk.format("GET", paths[(n % #paths) + 1])
end
