-- mix.lua: wrk script that rotates through a list of request paths.
--
--   wrk -s bench/mix.lua URL -- PATHS_FILE
--   PREP_MIX=PATHS_FILE wrk -s bench/mix.lua URL
--
-- PATHS_FILE holds one path per line ("/assets/x.json"); blank lines and
-- lines starting with "#" are skipped.  Every connection of a thread walks
-- the same list in order, each thread from its own starting offset, so
-- the servers see the same mix.  Headers given with wrk -H (for example
-- Accept-Encoding) go with every request.  done() prints one line,
-- "MIXRESULT key=value ...", that bench/serve.sh parses.

local MAX_PATHS = 100000
local MAX_LINE = 1024

local threads = {}
local counter = 0

local function load_paths(file)
    local f, err = io.open(file, "r")
    if not f then
        error("mix.lua: cannot open path list: " .. tostring(err))
    end

    local list = {}
    for line in f:lines() do
        line = line:gsub("%s+$", "")
        if #line > MAX_LINE then
            error("mix.lua: path longer than " .. MAX_LINE .. " bytes")
        end
        if line ~= "" and line:sub(1, 1) ~= "#" then
            if line:sub(1, 1) ~= "/" then
                error("mix.lua: path must start with '/': " .. line)
            end
            if #list >= MAX_PATHS then
                error("mix.lua: more than " .. MAX_PATHS .. " paths")
            end
            list[#list + 1] = line
        end
    end
    f:close()

    if #list == 0 then
        error("mix.lua: empty path list: " .. file)
    end
    return list
end

-- runs in the main state once per thread before it starts
function setup(thread)
    thread:set("id", counter)
    threads[#threads + 1] = thread
    counter = counter + 1
end

local requests
local idx

function init(args)
    local file = args[1] or os.getenv("PREP_MIX")
    if not file or file == "" then
        error("mix.lua: give the path list as '-- FILE' or in PREP_MIX")
    end
    local paths = load_paths(file)

    -- Format every request once, here: wrk.format per request costs the
    -- client more CPU than the server spends answering a small JSON file,
    -- and a client that is the bottleneck squeezes every ratio towards 1.
    -- The -H headers are already in wrk.headers when init runs.
    requests = {}
    for i, path in ipairs(paths) do
        requests[i] = wrk.format(nil, path)
    end

    -- spread threads over the list so they do not ask in lockstep
    local tid = tonumber(wrk.thread:get("id")) or 0
    idx = (tid * 7919) % #requests
end

function request()
    idx = idx + 1
    if idx > #requests then
        idx = 1
    end
    return requests[idx]
end

function done(summary, latency, requests)
    local e = summary.errors
    local secs = summary.duration / 1e6

    io.write(string.format(
        "MIXRESULT requests=%d duration_s=%.3f rps=%.1f bytes=%d"
        .. " p50_us=%d p90_us=%d p99_us=%d max_us=%d"
        .. " err_connect=%d err_read=%d err_write=%d err_status=%d"
        .. " err_timeout=%d\n",
        summary.requests, secs, summary.requests / secs, summary.bytes,
        latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.max,
        e.connect, e.read, e.write, e.status, e.timeout))
end
