#!/usr/bin/env bash
# Starts a local Mosquitto broker for the telemetry sample, for the README's tour: TLS on
# 127.0.0.1:8883, client certificates required and checked against your tenant's device CAs
# (rampart ca download), its own certificate signed by the dev service's CA (which the device's
# apps are told to trust). Usage: examples/telemetry/broker.sh DATA_DIR STATE_DIR
#   DATA_DIR   the dev service's --data folder (holds ca.pem and ca-key.pem)
#   STATE_DIR  the simulated device's --state folder (gets app-ca.pem and the app's config.json)
set -euo pipefail
data=${1:?usage: broker.sh DATA_DIR STATE_DIR}
state=${2:?usage: broker.sh DATA_DIR STATE_DIR}
dir=$(mktemp -d)
rampart ca download --output "$dir/tenant-ca.pem"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/broker-key.pem" \
	-subj /CN=127.0.0.1 -out "$dir/broker.csr" 2>/dev/null
echo "subjectAltName = IP:127.0.0.1" > "$dir/broker.ext"
openssl x509 -req -in "$dir/broker.csr" -CA "$data/ca.pem" -CAkey "$data/ca-key.pem" -CAcreateserial \
	-days 30 -extfile "$dir/broker.ext" -out "$dir/broker.pem" 2>/dev/null
cat > "$dir/mosquitto.conf" <<CONF
user $(id -un)
persistence false
log_dest file $dir/mosquitto.log
log_type all
listener 8883 127.0.0.1
cafile $dir/tenant-ca.pem
certfile $dir/broker.pem
keyfile $dir/broker-key.pem
require_certificate true
use_identity_as_username true
allow_anonymous false
CONF
cp "$data/ca.pem" "$state/app-ca.pem"
mkdir -p "$state/appdata/5e82e678-06e0-4c78-bbed-fecde9c2f6ca"
echo '{"broker": "127.0.0.1", "port": 8883, "topic": "rampart/telemetry", "interval_seconds": 5}' \
	> "$state/appdata/5e82e678-06e0-4c78-bbed-fecde9c2f6ca/config.json"
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
"$mosquitto" -d -c "$dir/mosquitto.conf"
echo "Mosquitto listens on 127.0.0.1:8883; its log is $dir/mosquitto.log"
