#!/usr/bin/env bash
# Starts a local Mosquitto broker for the telemetry sample, for the README's tour: TLS on
# 127.0.0.1:8883, client certificates required and checked against your tenant's device CAs
# (rampart ca download) and CRLs (rampart ca crl), its own certificate signed by a CA made here
# for it, which the device's apps are told to trust (the state folder's app-ca.pem), as a real
# broker's CA would be. Usage: examples/telemetry/broker.sh STATE_DIR
#   STATE_DIR  the simulated device's --state folder (gets app-ca.pem)
# It writes the app's config.json to the current folder: once the device runs the app, put it in
# the app's storage with `rampart-device app put telemetry config.json --state STATE_DIR` (the
# device seals it; a file copied into the state folder would be refused).
set -euo pipefail
state=${1:?usage: broker.sh STATE_DIR}
dir=$(mktemp -d)
rampart ca download --output "$dir/tenant-ca.pem"
rampart ca crl --output "$dir/tenant-crl.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/broker-ca-key.pem" \
	-subj "/CN=Telemetry broker CA" -days 30 -out "$dir/broker-ca.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/broker-key.pem" \
	-subj /CN=127.0.0.1 -out "$dir/broker.csr" 2>/dev/null
echo "subjectAltName = IP:127.0.0.1" > "$dir/broker.ext"
openssl x509 -req -in "$dir/broker.csr" -CA "$dir/broker-ca.pem" -CAkey "$dir/broker-ca-key.pem" -CAcreateserial \
	-days 30 -extfile "$dir/broker.ext" -out "$dir/broker.pem" 2>/dev/null
cat > "$dir/mosquitto.conf" <<CONF
user $(id -un)
persistence false
log_dest file $dir/mosquitto.log
pid_file $dir/mosquitto.pid
log_type all
listener 8883 127.0.0.1
cafile $dir/tenant-ca.pem
crlfile $dir/tenant-crl.pem
certfile $dir/broker.pem
keyfile $dir/broker-key.pem
require_certificate true
use_identity_as_username true
allow_anonymous false
CONF
cp "$dir/broker-ca.pem" "$state/app-ca.pem"
echo '{"broker": "127.0.0.1", "port": 8883, "topic": "rampart/telemetry", "interval_seconds": 5}' > config.json
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
"$mosquitto" -d -c "$dir/mosquitto.conf"
echo "Mosquitto listens on 127.0.0.1:8883; its log is $dir/mosquitto.log"
echo "Stop it with: kill \$(cat $dir/mosquitto.pid)"
