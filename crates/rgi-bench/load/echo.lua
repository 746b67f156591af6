-- wrk script: POST /echo with a 4 KiB body (wrk adds the Content-Length).
-- Usage: wrk -s echo.lua http://127.0.0.1:PORT/echo
wrk.method = "POST"
wrk.body = string.rep("e", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"
