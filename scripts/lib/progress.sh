# Sourced by scripts/test and scripts/testnet: timed steps and a progress line for the one long silent part of a
# cold build, RocksDB's C++ (cargo shows nothing while a build script runs, for about 10 minutes on 2 cores).

# Seconds as "4 min 05 s" or "12 s".
human_time() {
  local s=$1
  if [ "$s" -ge 60 ]; then printf '%d min %02d s' $((s / 60)) $((s % 60)); else printf '%d s' "$s"; fi
}

# Prints how many of RocksDB's C++ objects exist, every 30 s, while the build script compiles them. The total is
# the crate's own source list; the objects are counted in the build script's newest output directory.
rocksdb_progress() {
  local profile_dir=$1 sources total dir done_count last=-1
  sources=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/librocksdb-sys-*/rocksdb_lib_sources.txt 2>/dev/null | tail -n 1)
  total=$( [ -n "$sources" ] && wc -l < "$sources" || echo "?")
  while sleep 30; do
    dir=$(ls -dt "$profile_dir"/build/librocksdb-sys-*/out 2>/dev/null | head -n 1)
    [ -n "$dir" ] || continue
    done_count=$(find "$dir" -name '*.o' 2>/dev/null | wc -l)
    # Only while objects are being added: a finished or cached build prints nothing.
    if [ "$done_count" -ne "$last" ] && [ "$last" -ge 0 ]; then
      echo "    compiling RocksDB's C++: $done_count of $total files"
    fi
    last=$done_count
  done
}

# Runs a cargo command with the RocksDB progress line beside it.
cargo_with_progress() {
  local profile_dir=$1 status=0 ticker
  shift
  rocksdb_progress "$profile_dir" &
  ticker=$!
  cargo "$@" || status=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$status"
}
