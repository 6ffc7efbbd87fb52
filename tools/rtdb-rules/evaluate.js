// Evaluates Realtime Database rules on a list of cases with targaryen (offline: no emulator exists here).
// stdin: {"rules": <database.rules.json>, "cases": [{"name", "auth": null | {"uid": ...}, "data": <tree>,
//          "op": "read" | "write" | "update", "path", "value" (write), "patch" (update), "now" (ms),
//          "query" (read, e.g. {"orderByChild": "at"})}]}
// stdout: [{"name", "allowed", "info"}], one per case in order. Exit 2 on a malformed case.
'use strict';

const targaryen = require('targaryen');

function evaluate(rules, kase) {
  const now = kase.now === undefined ? Date.now() : kase.now;
  const db = targaryen.database(rules, kase.data === undefined ? null : kase.data).as(kase.auth || null);
  switch (kase.op) {
    case 'read':
      return db.read(kase.path, {now, query: kase.query || {}});
    case 'write':
      return db.write(kase.path, kase.value === undefined ? null : kase.value, {now});
    case 'update':
      return db.update(kase.path, kase.patch, {now});
    default:
      throw new Error(`case ${JSON.stringify(kase.name)}: op must be read, write or update, not ${kase.op}`);
  }
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', chunk => { input += chunk; });
process.stdin.on('end', () => {
  try {
    const {rules, cases} = JSON.parse(input);
    const verdicts = cases.map(kase => {
      const result = evaluate(rules, kase);
      return {name: kase.name, allowed: result.allowed, info: result.allowed ? '' : result.info};
    });
    process.stdout.write(JSON.stringify(verdicts));
  } catch (err) {
    process.stderr.write(`rtdb-rules: ${err.message}\n`);
    process.exit(2);
  }
});
