#!/usr/bin/env bash
# make demo: the seed's "transition incidents" on three phones.
#
# A server starts on a temporary database. Three support workers at Oak House
# log the morning transition on their phones with no signal; two of them
# also correct the same field of an incident they had all synced earlier.
# Then the phones get signal one by one, in a different order from the one
# they logged in, and the reconciled state is printed: every record on every
# phone, and the concurrent correction kept as an open conflict.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/shiftsyncd" ./server/cmd/shiftsyncd
go build -o "$work/shiftsync" ./mobile-contract/cmd/shiftsync

admin() { "$work/shiftsyncd" admin -db "$work/server.db" "$@" > /dev/null; }
"$work/shiftsyncd" migrate -db "$work/server.db" > /dev/null
admin create-organisation -id demo-care -name "Demo Care"
admin create-service -id oak-house -organisation demo-care -name "Oak House"
admin create-person -id sam -service oak-house -name "Sam"
for p in ana ben cara; do
  admin create-user -id "$p" -organisation demo-care -name "$p"
  admin add-membership -user "$p" -service oak-house -role support_worker
done

"$work/shiftsyncd" serve -db "$work/server.db" -addr 127.0.0.1:0 \
  > "$work/server.out" 2> "$work/server.log" &
server_pid=$!
url=""
for _ in $(seq 100); do
  url=$(sed -n 's/^shiftsyncd listening on \(http[^ ]*\).*/\1/p' "$work/server.out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "the server did not start:"; cat "$work/server.log"; exit 1; }

phone() { # phone NAME ARGS...: run the simulator as NAME's phone
  local name=$1; shift
  "$work/shiftsync" --device "$work/$name.db" --server "$url" "$@"
}
say() { printf '\n== %s\n' "$*"; }

say "A manager issues each worker a one-time code; each phone enrols with it"
for p in ana ben cara; do
  code=$("$work/shiftsyncd" admin -db "$work/server.db" issue-code -user "$p" 2> /dev/null)
  phone "$p" enrol "$code" --label "$p's work phone" | head -n 1
done

say "Sunday evening, with signal: Ana logs last night's incident; every phone syncs it"
shared=$(phone ana log incident --person sam --service oak-house --place "lounge" --severity 1 \
  --description "Shouted when the TV was switched off at bedtime")
for p in ana ben cara; do phone "$p" sync > /dev/null; done
phone ben list

say "Monday 07:30, no signal: the morning transition, logged offline on three phones"
phone ana log ews --person sam --service oak-house --sign "pacing by the front door" --stage anxious \
  --response "offered the visual timetable" > /dev/null
phone ben log incident --person sam --service oak-house --place "front door" --severity 3 \
  --description "Hit the door frame when the minibus was late" > /dev/null
phone cara log incident --person sam --service oak-house --place "minibus" --severity 2 --domain verbal \
  --description "Shouted at the driver; settled with the transition script" > /dev/null
say "Both Ben and Cara correct where Sunday's incident happened: a concurrent edit"
phone ben edit "$shared" place="hallway" > /dev/null
phone cara edit "$shared" place="bedroom door" > /dev/null
for p in ana ben cara; do echo "phone-$p: $(phone "$p" status | sed -n 's/^outbox: *//p')"; done

say "Signal returns: Cara's phone first, then Ana's, then Ben's"
for p in cara ana ben; do echo "phone-$p: $(phone "$p" sync | head -n 1)"; done
say "A second round, so every phone pulls what the others pushed"
for p in cara ana ben; do phone "$p" sync > /dev/null; done

say "Reconciled: every phone holds the same records"
for p in ana ben cara; do
  echo "phone-$p:"
  phone "$p" list | sed 's/^/  /'
done

say "The concurrent correction on Ben's phone: Cara's later edit won, Ben's is kept as an open conflict"
phone ben show "$shared"
