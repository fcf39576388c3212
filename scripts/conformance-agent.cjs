// Preloaded into openactive-test-suite's processes by scripts/conformance.sh (NODE_OPTIONS).
//
// The suite is written for Node 18, whose default HTTP agent opens a new connection per request.
// From Node 19 the default agent keeps idle connections alive, and a request sent on one just as
// the broker microservice's server closes it (its keep-alive timeout is 5 s) fails with
// "socket hang up" — under load, dozens of capacity checks per run. Restoring Node 18's default
// avoids the race without touching the suite.
const http = require('node:http');
const https = require('node:https');

http.globalAgent = new http.Agent({ keepAlive: false });
https.globalAgent = new https.Agent({ keepAlive: false });
