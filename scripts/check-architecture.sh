#!/usr/bin/env bash
# The dependency rule (ARCHITECTURE.md): pure crates never pull in a runtime, a network
# stack or a database driver. Checked on the resolved dependency graph, not on Cargo.toml,
# so a transitive pull-in is caught too.
set -euo pipefail
cd "$(dirname "$0")/.."

pure_crates=(treaty-merkle treaty-note treaty-types treaty-card treaty-httpsig treaty-anchor treaty-federation)
forbidden='^(tokio|axum|hyper|reqwest|rustls|tower|rusqlite|libsqlite3-sys|tokio-postgres|mio) '

status=0
for crate in "${pure_crates[@]}"; do
  offenders=$(cargo tree --locked -p "$crate" -e normal --prefix none --format '{p}' | sort -u | grep -E "$forbidden" || true)
  if [ -n "$offenders" ]; then
    echo "dependency rule broken: pure crate $crate depends on:"
    echo "$offenders" | sed 's/^/  /'
    status=1
  else
    echo "dependency rule ok: $crate"
  fi
done
exit $status
