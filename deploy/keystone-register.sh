#!/bin/sh
# Register Nephoscope in a cloud's Keystone (docs/keystone.md): the service user, the catalog
# entries clients look for (monitoring -> /v2.0, logs -> /v3.0, metric-storage -> the root, where
# python-observabilityclient, Aodh and Watcher find the Prometheus API as they find Aetos) and
# Monasca's roles.
# Run with admin credentials loaded (source admin-openrc.sh). Idempotent enough to run twice:
# what already exists is reported and left alone.
#
#   NEPHOSCOPE_URL=http://nephoscope.example.org:8070 REGION=RegionOne ./keystone-register.sh
set -eu

URL=${NEPHOSCOPE_URL:?set NEPHOSCOPE_URL to the address clients reach Nephoscope at, e.g. http://host:8070}
REGION=${REGION:-RegionOne}
SERVICE_USER=${SERVICE_USER:-monasca}
SERVICE_PROJECT=${SERVICE_PROJECT:-service}

exists() { openstack "$@" >/dev/null 2>&1; }

if exists user show --domain Default "$SERVICE_USER"; then
  echo "user $SERVICE_USER exists"
else
  echo "creating the service user $SERVICE_USER (put its password in [keystone_authtoken] password)"
  openstack user create --domain Default --password-prompt "$SERVICE_USER"
fi
# Validating other users' tokens needs the service role (Keystone's identity:validate_token).
openstack role add --project "$SERVICE_PROJECT" --user "$SERVICE_USER" service

for role in monasca-user monasca-read-only-user monasca-agent monasca-delegate; do
  exists role show "$role" && echo "role $role exists" || openstack role create "$role"
done

register() {  # type name path description
  exists service show "$1" || openstack service create --name "$2" --description "$4" "$1"
  for interface in public internal admin; do
    if openstack endpoint list --service "$1" --interface "$interface" --region "$REGION" -f value -c ID | grep -q .; then
      echo "$1 $interface endpoint in $REGION exists"
    else
      openstack endpoint create --region "$REGION" "$1" "$interface" "$URL$3"
    fi
  done
}
register monitoring monasca /v2.0 "Monitoring: metrics, alarms, notifications (Nephoscope, Monasca API)"
register logs monasca-log-api /v3.0 "Logs (Nephoscope, Monasca log API)"
# Aetos's service type; no path: the clients add /api/v1/query, /api/v1/series, ... to the URL.
register metric-storage nephoscope-prometheus "" "Metric storage: Prometheus query API (Nephoscope, as Aetos)"

echo "done: give users monasca-user (or monasca-read-only-user) on their projects, agents monasca-agent"
