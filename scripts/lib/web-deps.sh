# The JavaScript verifier's two pinned packages (web/verifier/node_modules, from its package-lock.json): the node
# embeds them in its web page at build time (node/build.rs), so every script that builds installs them first.
# Only when missing or older than the lock file: reinstalling would touch the files and make cargo rebuild the node.
web_deps() {
  local dir=web/verifier
  if [ -f "$dir/node_modules/@noble/ed25519/index.js" ] && [ -f "$dir/node_modules/@noble/hashes/sha2.js" ] &&
    [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "building the node needs npm (Node.js 20), for the web page's verifier packages: apt-get install nodejs npm" >&2
    return 1
  fi
  echo "==> installing the web page's verifier packages (npm ci in $dir)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}
