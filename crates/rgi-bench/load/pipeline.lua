-- wrk script: pipelining. Every write carries `depth` GET requests back to
-- back (default 16); wrk counts each response.
-- Usage: wrk -s pipeline.lua http://127.0.0.1:PORT/ -- 16
init = function(args)
  local depth = tonumber(args[1]) or 16
  local batch = {}
  for i = 1, depth do
    batch[i] = wrk.format("GET", "/")
  end
  pipelined = table.concat(batch)
end

request = function()
  return pipelined
end
