#!/usr/bin/env bash
# The system test of the dbcheckin package under a real systemd (PID 1 of a
# systemd-nspawn container booted by packaging/test-systemd.sh). Runs as the
# unit dbcheckin-test.service, in two phases around a reboot of the container,
# and ends with `systemctl exit N` (N = failed checks, 0 when all pass), so
# that nspawn's exit code is the test's.
#
# Every wait is a bounded poll of a condition; the only long one waits for a
# real watchdog ping (the unit's WatchdogSec=2min: one ping a minute).
set -uo pipefail
export LC_ALL=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin

T=/opt/dbcheckin-test
RESULTS=$T/results
METRICS=$T/metrics
PHASE_FILE=$T/phase
SAVED=$T/saved
DB=odoo_fixture_a
UNIT=dbcheckin.service
DROPIN=/etc/dbcheckin/config.d/50-test.toml
REQUESTS=/var/lib/vserver/requests.log

pass() { echo "ok: $*" | tee -a "$RESULTS"; }
failed() { echo "FAIL: $*" | tee -a "$RESULTS"; }
# check NAME COMMAND...: passes when COMMAND succeeds; otherwise shows its output.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then pass "$name"; else failed "$name: $(tail -c 2000 <<<"$out")"; fi
}
# wait_until SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds
# or SECONDS pass (then fails).
wait_until() {
    local limit=$1 deadline
    shift
    deadline=$(($(date +%s%N) + limit * 1000000000))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s%N)" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}
metric() { echo "$1=$2" >>"$METRICS"; echo "metric: $1=$2"; }
prop() { systemctl show -P "$1" "$UNIT"; }
invocation() { prop InvocationID; }
# Journal lines (message text) of the current run of the service.
journal_now() { journalctl -q -o cat _SYSTEMD_INVOCATION_ID="$(invocation)" "$@"; }
jcount() { journal_now | grep -cF -- "$1"; }
jcount_above() { [ "$(jcount "$1")" -gt "$2" ]; }
requests() { grep -c "$1" "$REQUESTS" 2>/dev/null || echo 0; }
requests_above() { [ "$(requests "$1")" -gt "$2" ]; }
status_has() { prop StatusText | grep -qF -- "$1"; }
active() { [ "$(prop ActiveState)" = active ] && [ "$(prop SubState)" = running ]; }
psql_q() { runuser -u postgres -- psql -XAtq -d "$DB" -c "$1"; }
last_success() { python3 -c 'import json,glob,sys; print(json.load(open(glob.glob("/var/lib/dbcheckin/*.json")[0]))["last_success"])'; }
# The next check-in, per `status --json` (answered by the daemon).
next_due() { dbcheckin status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["databases"][0]["next_check_in"])'; }
# The schedule resumed: the next check-in is the one planned before ($1),
# on the database's slot, at least half an interval (3.5 days) away.
same_slot() {
    local now
    now=$(next_due)
    echo "next check-in $now (before: $1)"
    [ "$now" = "$1" ] && python3 -c '
import sys, datetime
due = datetime.datetime.fromisoformat(sys.argv[1].replace("Z", "+00:00"))
sys.exit(0 if due - datetime.datetime.now(datetime.timezone.utc) > datetime.timedelta(days=3) else 1)' "$now"
}
# Microseconds between two monotonic timestamps of the unit, in ms.
ms_between() { echo $((($(prop "$2") - $(prop "$1")) / 1000)); }
reload_and_wait() {
    local before
    before=$(jcount "$1")
    systemctl reload "$UNIT" && wait_until 15 jcount_above "$1" "$before"
}
restart_clean() { systemctl reset-failed "$UNIT" 2>/dev/null; systemctl restart "$UNIT"; }
no_sandbox_refusal() {
    local hits
    hits=$(journalctl -q -u "$UNIT" --no-pager | grep -Ei 'SIGSYS|status=31|bad system call|operation not permitted|EPERM|seccomp' || true)
    [ -z "$hits" ] || { echo "$hits"; return 1; }
}
finish() {
    local ok bad
    ok=$(grep -c '^ok:' "$RESULTS")
    bad=$(grep -c '^FAIL:' "$RESULTS")
    echo "$ok passed, $bad failed" | tee "$T/summary"
    [ "$bad" -gt 255 ] && bad=255
    systemctl exit "$bad"
    exit 0
}

phase=$(cat "$PHASE_FILE" 2>/dev/null || echo 1)
echo "== dbcheckin system test, phase $phase, $(systemd --version | head -n 1)"

if [ "$phase" = 1 ]; then
    : >"$RESULTS"
    : >"$METRICS"
    check "PostgreSQL 15 answers on port 5432" wait_until 60 runuser -u postgres -- psql -XAtq -p 5432 -c 'select 1'
    check "the fixture restores into database $DB" \
        runuser -u postgres -- bash "$T/restore.sh" "$T/odoo_fixture_a.sql.gz"
    check "the stand-in validation server answers over HTTPS with the test CA" \
        wait_until 20 python3 -c "import ssl,urllib.request as u; u.urlopen('https://localhost:8443/', context=ssl.create_default_context(cafile='$T/ca.pem'))"

    echo "== apt install"
    out=$(apt-get install -y "$T/dbcheckin_old.deb" 2>&1)
    code=$?
    check "apt install ./dbcheckin_*.deb succeeds" test "$code" = 0
    echo "$out" | tail -n 5
    check "the postinst names the grant and the reload" grep -q 'systemctl reload dbcheckin' <<<"$out"
    check "the package enabled the service" test "$(systemctl is-enabled $UNIT)" = enabled
    check "the service is active (READY=1 received)" active
    check "a STATUS= line is shown" test -n "$(prop StatusText)"
    metric ready_ms_no_database "$(ms_between ExecMainStartTimestampMonotonic ActiveEnterTimestampMonotonic)"
    check "before the grant, the listing fails and is logged" wait_until 15 jcount_above "cannot list the databases" 0
    dbcheckin status >/dev/null 2>&1 # a round trip through the scheduler
    check "finding 3: one listing at startup, not two" test "$(jcount "cannot list the databases")" = 1
    check "finding 3: its error is logged once" test "$(jcount "Peer authentication failed")" -le 1

    echo "== configuration, grant, first check-in"
    install -m 0644 "$T/ca.pem" /etc/dbcheckin/test-ca.pem
    cat >"$DROPIN" <<TOML
[server]
url = "https://localhost:8443/publisher-warranty/"
fallback_url = "http://127.0.0.1:8080/publisher-warranty/"
ca_file = "/etc/dbcheckin/test-ca.pem"
connect_timeout = "3s"
[odoo]
version = "18.0-20250506"
[schedule]
first_delay = "1s"
TOML
    check "the grant succeeds" sudo -u postgres dbcheckin grant --role dbcheckin
    started=$(date +%s%N)
    check "systemctl reload after the grant" reload_and_wait "configuration reloaded"
    check "the check-in starts at once after the reload" wait_until 20 test -n "$(ls /var/lib/dbcheckin/*.json 2>/dev/null)"
    check "a real check-in over HTTPS reaches the validation server" wait_until 20 requests_above "^https POST /publisher-warranty/" 0
    check "the success is logged" wait_until 20 bash -c "journalctl -q -o cat -u $UNIT | grep -q 'check-in ok'"
    metric first_checkin_after_reload_ms $((($(date +%s%N) - started) / 1000000))
    check "the reply is applied: database.expiration_date" \
        test "$(psql_q "select value from ir_config_parameter where key = 'database.expiration_date'")" = "2027-01-15 00:00:00"
    check "the reply is applied: database.expiration_reason" \
        test "$(psql_q "select value from ir_config_parameter where key = 'database.expiration_reason'")" = "renewal"
    check "the message is posted in Discuss" \
        test "$(psql_q "select count(*) from mail_message where body like '%hello%'")" -ge 1
    uuid=$(psql_q "select value from ir_config_parameter where key = 'database.uuid'")
    check "finding 1: journalctl DATABASE=$DB TRANSPORT=https finds the check-in" \
        bash -c "journalctl -q -o cat -u $UNIT DATABASE=$DB TRANSPORT=https | grep -q 'check-in ok'"
    check "finding 1: journalctl UUID=<uuid> finds it" bash -c "journalctl -q -o cat -u $UNIT UUID=$uuid | grep -q 'check-in ok'"
    check "finding 1: no F_-prefixed field" bash -c "! journalctl -q -u $UNIT -o export | grep -aE '^F_[A-Z]+='"
    check "finding 1: no Some(...) transport" bash -c "! journalctl -q -u $UNIT -o export | grep -aE '^(F_)?TRANSPORT=' | grep -v -x -e TRANSPORT=https -e TRANSPORT=http"
    check "STATUS= says the last check-in is ok" wait_until 10 status_has "last: all ok"

    echo "== users: check-now and status"
    usermod -aG dbcheckin alice
    usermod -aG dbcheckin nagios
    before=$(requests "^https POST")
    check "check-now as root" bash -c "dbcheckin check-now --json | python3 -c 'import json,sys; r=json.load(sys.stdin)[\"results\"][0]; sys.exit(0 if r[\"ok\"] and r[\"transport\"] == \"https\" else 1)'"
    check "check-now as alice (group dbcheckin)" sudo -u alice dbcheckin check-now
    check "check-now as root and alice reached the server" requests_above "^https POST" $((before + 1))
    before=$(requests "POST")
    out=$(sudo -u mallory dbcheckin check-now 2>&1)
    code=$?
    check "check-now refused for mallory (not in the group)" test "$code" != 0
    check "the refusal names the group" grep -q 'permission denied' <<<"$out"
    check "mallory's refusal sent nothing" test "$(requests "POST")" = "$before"
    for who in root alice nagios; do
        if [ "$who" = root ]; then out=$(dbcheckin status 2>&1); else out=$(sudo -u "$who" dbcheckin status 2>&1); fi
        code=$?
        check "finding 2: status as $who is OK (exit 0)" test "$code" = 0
        check "finding 2: status as $who shows the state" grep -q 'last success' <<<"$out"
        check "finding 2: status as $who names its source, the daemon" grep -q '^source: the running daemon' <<<"$out"
    done
    echo "$out" | head -n 3
    out=$(sudo -u nagios dbcheckin status --json)
    check "finding 2: status --json as nagios has source daemon" \
        python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d['source']['kind']=='daemon' and d['exit_code']==0 else 1)" "$out"
    out=$(sudo -u mallory dbcheckin status 2>&1)
    check "status as mallory falls back to direct reads and says so" grep -q '^source: direct reads by this process' <<<"$out"

    echo "== PostgreSQL on another port"
    mkdir -p /root/otherport
    printf '[postgres]\nconnection = "host=/var/run/postgresql port=5499 user=dbcheckin"\n[daemon]\ncontrol_socket = "/root/otherport/none.sock"\n' >/root/otherport/config.toml
    out=$(dbcheckin -c /root/otherport/config.toml status 2>&1)
    check "a socket missing on port 5499 names the socket files found" grep -qF '.s.PGSQL.5432 but not .s.PGSQL.5499' <<<"$out"

    echo "== plain-HTTP fallback, then a failure"
    printf '[server]\nurl = "https://localhost:8444/publisher-warranty/"\n' >/etc/dbcheckin/config.d/60-fallback.toml
    check "reload with HTTPS closed" reload_and_wait "configuration reloaded"
    check "check-now uses the plain-HTTP fallback" bash -c "dbcheckin check-now --json | python3 -c 'import json,sys; r=json.load(sys.stdin)[\"results\"][0]; sys.exit(0 if r[\"ok\"] and r[\"transport\"] == \"http\" and r[\"fallback_reason\"] else 1)'"
    check "the fallback reached the plain-HTTP server" requests_above "^http POST /publisher-warranty/" 0
    check "journalctl TRANSPORT=http finds it" bash -c "journalctl -q -o cat -u $UNIT DATABASE=$DB TRANSPORT=http | grep -q 'check-in ok'"
    printf 'fallback_url = ""\n' >>/etc/dbcheckin/config.d/60-fallback.toml
    check "reload without the fallback" reload_and_wait "configuration reloaded"
    dbcheckin check-now --json >/dev/null 2>&1
    check "journalctl KIND=refused DATABASE=$DB finds the failure" bash -c "journalctl -q -o cat -u $UNIT KIND=refused DATABASE=$DB | grep -q 'check-in failed'"
    check "STATUS= names the failed database" wait_until 10 status_has "last: 1 failed ($DB)"
    rm -f /etc/dbcheckin/config.d/60-fallback.toml
    check "reload back to HTTPS" reload_and_wait "configuration reloaded"
    check "check-now over HTTPS again" dbcheckin check-now

    echo "== systemctl reload with a bad configuration"
    pid=$(prop MainPID)
    printf '[server\nurl = "https://\n' >/etc/dbcheckin/config.d/70-bad.toml
    check "reload with a bad config keeps the running one" reload_and_wait "reload failed, keeping the running configuration"
    check "the daemon still runs, same process" bash -c "[ \"\$(systemctl show -P MainPID $UNIT)\" = $pid ] && systemctl is-active -q $UNIT"
    rm -f /etc/dbcheckin/config.d/70-bad.toml
    check "reload with the config fixed applies it" reload_and_wait "configuration reloaded"
    check "the unit is not left reloading" wait_until 10 active

    echo "== the running system's exposure"
    security=$(systemd-analyze security --no-pager "$UNIT" 2>&1)
    exposure=$(sed -n 's/.*Overall exposure level for dbcheckin.service: \([0-9.]*\).*/\1/p' <<<"$security")
    metric exposure "${exposure:-none}"
    check "systemd-analyze security dbcheckin <= 1.5 on the running system" \
        awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 1.5) }'

    echo "== watchdog: a real ping (WatchdogSec=2min, one ping a minute)"
    stamp=$(prop WatchdogTimestampMonotonic)
    started=$(date +%s)
    check "a watchdog ping arrives within 65 s" wait_until 65 bash -c "[ \"\$(systemctl show -P WatchdogTimestampMonotonic $UNIT)\" != $stamp ]"
    metric watchdog_wait_s $(($(date +%s) - started))

    echo "== watchdog: a stopped daemon is killed and restarted (WatchdogSec=4s, RestartSec=1s for this check)"
    mkdir -p /run/systemd/system/dbcheckin.service.d
    printf '[Service]\nWatchdogSec=4s\nRestartSec=1s\n' >/run/systemd/system/dbcheckin.service.d/50-test-watchdog.conf
    systemctl daemon-reload
    restart_clean
    pid=$(prop MainPID)
    restarts=$(prop NRestarts)
    kill -STOP "$pid"
    check "the stopped daemon is killed by the watchdog and restarted" \
        wait_until 30 bash -c "[ \"\$(systemctl show -P NRestarts $UNIT)\" -gt $restarts ] && [ \"\$(systemctl show -P MainPID $UNIT)\" != $pid ] && [ \"\$(systemctl show -P MainPID $UNIT)\" != 0 ] && systemctl is-active -q $UNIT"
    check "systemd logged the watchdog timeout" bash -c "journalctl -q -u $UNIT | grep -q 'Watchdog timeout'"
    rm -f /run/systemd/system/dbcheckin.service.d/50-test-watchdog.conf
    systemctl daemon-reload
    restart_clean

    echo "== restart keeps the state and resumes the schedule"
    success=$(last_success)
    planned=$(next_due)
    before=$(requests POST)
    restart_clean
    metric ready_ms "$(ms_between ExecMainStartTimestampMonotonic ActiveEnterTimestampMonotonic)"
    check "finding 4: STATUS= after a restart says last: all ok" status_has "last: all ok"
    check "after a restart the schedule resumes (same next check-in, days away)" same_slot "$planned"
    check "a restart keeps the recorded success" test "$(last_success)" = "$success"
    check "a restart sends nothing" test "$(requests POST)" = "$before"

    echo "== package upgrade"
    pid=$(prop MainPID)
    systemctl reset-failed "$UNIT" 2>/dev/null
    check "apt install of the newer package" apt-get install -y "$T/dbcheckin_new.deb"
    check "the upgrade installed the new version" test "$(dpkg-query -W -f '${Version}' dbcheckin)" = "$(cat "$T/new-version")"
    check "the upgrade restarted the daemon" bash -c "[ \"\$(systemctl show -P MainPID $UNIT)\" != $pid ] && systemctl is-active -q $UNIT"
    check "finding 4: STATUS= after an upgrade says last: all ok" status_has "last: all ok"
    check "after an upgrade the schedule resumes (same next check-in, days away)" same_slot "$planned"
    check "the upgrade keeps the recorded success and the drop-in" bash -c "[ \"$(last_success)\" = \"$success\" ] && [ -f $DROPIN ]"
    check "the sandbox never refused the daemon a call (no SIGSYS, no EPERM)" no_sandbox_refusal

    echo "$success" >"$SAVED"
    requests POST >>"$SAVED"
    echo "$planned" >>"$SAVED"
    echo 2 >"$PHASE_FILE"
    echo "== reboot"
    systemctl reboot
    exit 0
fi

# ---- phase 2: after the reboot ----
success=$(sed -n 1p "$SAVED")
before=$(sed -n 2p "$SAVED")
planned=$(sed -n 3p "$SAVED")
check "after the reboot the service is active" wait_until 60 active
check "finding 4: STATUS= after a reboot says last: all ok" status_has "last: all ok"
check "after a reboot the schedule resumes (same next check-in, days away)" same_slot "$planned"
check "a reboot keeps the recorded success" test "$(last_success)" = "$success"
check "a reboot sends nothing" test "$(requests POST)" = "$before"
check "the sandbox never refused the daemon a call after the reboot" no_sandbox_refusal

echo "== systemctl stop"
pid=$(prop MainPID)
started=$(date +%s%N)
systemctl stop "$UNIT"
metric stop_ms $((($(date +%s%N) - started) / 1000000))
check "stop is clean: Result=success" test "$(prop Result)" = success
check "stop is clean: the daemon exited 0" test "$(prop ExecMainStatus)" = 0
check "stop is clean: not killed" bash -c "! journalctl -q -b -u $UNIT | grep -qE 'stop-sigterm. timed out|Killing process $pid'"
out=$(sudo -u dbcheckin dbcheckin status 2>&1)
check "status without a daemon reads directly and says so" grep -q '^source: direct reads by this process (no daemon answers' <<<"$out"
check "status without a daemon, as user dbcheckin, is OK" test "$(sudo -u dbcheckin dbcheckin status >/dev/null 2>&1; echo $?)" = 0

echo "== apt remove"
systemctl start "$UNIT"
check "apt remove" apt-get remove -y dbcheckin
check "remove stops the service" bash -c "! systemctl is-active -q $UNIT"
check "remove disables the service" bash -c "[ ! -e /etc/systemd/system/multi-user.target.wants/dbcheckin.service ]"
check "remove keeps the configuration, the state and the user" \
    bash -c "[ -f /etc/dbcheckin/config.toml ] && ls /var/lib/dbcheckin/*.json && getent passwd dbcheckin"

echo "== apt purge (alice and nagios are in group dbcheckin)"
apt-get install -y "$T/dbcheckin_new.deb" >/dev/null 2>&1
check "reinstalled after the removal: enabled and active" bash -c "systemctl is-enabled -q $UNIT && systemctl is-active -q $UNIT"
check "the group has admin members before the purge" bash -c "getent group dbcheckin | grep -q alice"
out=$(apt-get purge -y dbcheckin 2>&1)
code=$?
echo "$out" | grep -i dbcheckin | tail -n 5
check "apt purge succeeds" test "$code" = 0
check "purge leaves no trace in dpkg" bash -c "! dpkg-query -W -f '\${db:Status-Abbrev}' dbcheckin 2>/dev/null | grep -q '^.[ic]'"
check "finding 5: purge prints no userdel warning" bash -c "! grep -qiE 'userdel|not removed because' <<<\"\$1\"" _ "$out"
check "purge deletes the user and the group" bash -c "! getent passwd dbcheckin && ! getent group dbcheckin"
check "purge deletes the state and the configuration, keeps the admin's drop-in and says so" \
    bash -c "[ ! -e /var/lib/dbcheckin ] && [ ! -e /etc/dbcheckin/config.toml ] && [ -f $DROPIN ] && grep -q 'so it is kept' <<<\"\$1\"" _ "$out"
check "alice is no longer in a group dbcheckin" bash -c "! id -nG alice | grep -qw dbcheckin"

echo "== apt purge without drop-ins, an admin in the group: no warning at all"
rm -rf /etc/dbcheckin
apt-get install -y "$T/dbcheckin_new.deb" >/dev/null 2>&1
usermod -aG dbcheckin alice
out=$(apt-get purge -y dbcheckin 2>&1)
code=$?
check "apt purge succeeds" test "$code" = 0
check "finding 5: purge prints no warning at all" bash -c "! grep -qiE 'warning|userdel' <<<\"\$1\"" _ "$out"
check "purge leaves no /etc/dbcheckin, user or group" \
    bash -c "[ ! -e /etc/dbcheckin ] && ! getent passwd dbcheckin && ! getent group dbcheckin"

finish
