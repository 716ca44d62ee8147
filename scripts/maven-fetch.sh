# Sourced by scripts/kafka-up.sh and scripts/mm2.sh (which define log and die): fetch a set of
# jars from Maven Central with mvn, once, into a cache directory shared by concurrent callers.

# maven_fetch LIBS VERSION POM PROPERTY JAR WHAT EXTRA_MVN_ARGS
#   LIBS            the cache directory; complete when LIBS/.complete holds VERSION
#   VERSION         the version to fetch, passed to mvn as -DPROPERTY=VERSION
#   POM             the pom.xml whose dependencies are copied
#   JAR             a jar file name that must be there afterwards
#   WHAT            what is fetched, for messages
#   EXTRA_MVN_ARGS  more mvn arguments, one string split on spaces (may be empty)
maven_fetch() {
  local libs=$1 version=$2 pom=$3 property=$4 jar=$5 what=$6 extra=${7:-}
  local marker=$libs/.complete
  if [[ -f $marker && $(<"$marker") == "$version" ]]; then return 0; fi
  command -v mvn >/dev/null || die "mvn (Maven) is needed to fetch $what, and was not found"
  mkdir -p "$(dirname "$libs")"
  exec 8>"$libs.lock"
  flock -w 600 8 || die "timed out waiting for another fetch into $libs"
  if [[ -f $marker && $(<"$marker") == "$version" ]]; then exec 8>&-; return 0; fi
  local tmp=$libs.tmp.$$ mvn_args=()
  read -r -a mvn_args <<<"$extra"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  log "fetching $what $version jars from Maven Central into $libs"
  # mvn's output goes to a file (Debian's Maven 3.8 prints stray colour codes even with -q -B),
  # shown only when it fails.
  if ! mvn -q -B -f "$pom" "${mvn_args[@]}" \
      dependency:copy-dependencies -D"$property=$version" -DoutputDirectory="$tmp" \
      >"$tmp.log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log"
    die "mvn could not fetch $what $version and its dependencies"
  fi
  rm -f "$tmp.log"
  [[ -f $tmp/$jar ]] || { rm -rf "$tmp"; die "$jar missing after mvn"; }
  echo "$version" >"$tmp/.complete"
  rm -rf "$libs"
  mv "$tmp" "$libs"
  exec 8>&-
}
