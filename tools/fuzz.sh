#!/usr/bin/env bash
# Builds and runs the libFuzzer targets of fuzz/ (one per file loader of include/tinycnn/io/) with
# clang, AddressSanitizer and UndefinedBehaviorSanitizer; outside CMake, so it needs only clang.
#
#   tools/fuzz.sh build [LOADER...]          build build-fuzz/<loader>_fuzz (all four by default)
#   tools/fuzz.sh LOADER SECONDS [ARGS...]   fuzz for SECONDS from fuzz/corpus/LOADER; extra ARGS
#                                            go to libFuzzer; findings land in build-fuzz/artifacts/
#   tools/fuzz.sh keep LOADER [MAX]          minimise what the last run found (-merge=1) and add at
#                                            most MAX (default 50) of the smallest new inputs to
#                                            fuzz/corpus/LOADER, named by outcome: valid_found_<sha1>
#                                            (loads) or bad_found_<sha1> (tinycnn::Error)
#   tools/fuzz.sh replay LOADER FILE...      run the target once on each FILE (reproduce a finding)
# LOADER: safetensors, caffemodel, idx or image. Environment: CXX (default clang++, 14 or later),
# FUZZ_NICE (default 19). Limits: -rss_limit_mb=512 -malloc_limit_mb=256 (an allocation that large
# from an input of at most -max_len bytes is a finding), -timeout=5 (a hang is a finding).
set -euo pipefail
cd "$(dirname "$0")/.."

loaders=(safetensors caffemodel idx image)
out=build-fuzz
cxx=${CXX:-clang++}
nice_level=${FUZZ_NICE:-19}

die() { echo "tools/fuzz.sh: $*" >&2; exit 2; }
known() { local l; for l in "${loaders[@]}"; do [ "$l" = "$1" ] && return 0; done; return 1; }

max_len() {  # bytes per input: every seed fits, and larger inputs only slow the search down
  case $1 in
    image) echo 16384 ;;
    *) echo 65536 ;;
  esac
}

# build LOADER [strict]: the fuzz target, with fuzz/ubsan_ignorelist.txt (third-party reports
# that fuzzing goes on past), or "strict" without it (build-fuzz/<loader>_fuzz_strict).
build() {
  local loader=$1 bin=$out/$1_fuzz ignore=(-fsanitize-ignorelist=fuzz/ubsan_ignorelist.txt)
  if [ "${2:-}" = strict ]; then bin=${bin}_strict; ignore=(); fi
  mkdir -p "$out"
  # Rebuilt when the target, fuzz/*.hpp, the ignorelist or a header of include/ is newer.
  if [ -x "$bin" ] && [ -z "$(find fuzz/"$loader"_fuzz.cpp fuzz/*.hpp fuzz/ubsan_ignorelist.txt \
                             include -newer "$bin" -print -quit)" ]; then
    return 0
  fi
  echo "tools/fuzz.sh: building $bin"
  nice -n "$nice_level" "$cxx" -std=c++20 -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all "${ignore[@]}" \
    -Iinclude -Ifuzz fuzz/"$loader"_fuzz.cpp -lz -o "$bin"
}

libfuzzer_flags() {
  local loader=$1
  local flags=(-max_len="$(max_len "$loader")" -rss_limit_mb=512 -malloc_limit_mb=256 -timeout=5
               -print_final_stats=1 -artifact_prefix="$out/artifacts/$loader/")
  [ -f fuzz/dict/"$loader".dict ] && flags+=(-dict=fuzz/dict/"$loader".dict)
  printf '%s\n' "${flags[@]}"
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
tmp=$(mktemp -d "$([ -d /dev/shm ] && echo /dev/shm || echo /tmp)/tinycnn_fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export TINYCNN_FUZZ_TMPDIR=$tmp

[ $# -ge 1 ] || die "usage: tools/fuzz.sh build [LOADER...] | LOADER SECONDS [ARGS...] | keep LOADER [MAX] | replay LOADER FILE..."
case $1 in
  build)
    shift
    [ $# -gt 0 ] || set -- "${loaders[@]}"
    for l in "$@"; do known "$l" || die "unknown loader '$l'"; build "$l"; done
    ;;
  keep)
    loader=${2:-}; max=${3:-50}
    known "$loader" || die "unknown loader '$loader'"
    work=$out/work/$loader
    [ -d "$work" ] || die "no run of '$loader' to keep ($work is missing)"
    build "$loader"
    mapfile -t flags < <(libfuzzer_flags "$loader")
    # Only what adds coverage to the committed corpus is merged into the (empty) new directory.
    mkdir -p "$tmp/new"
    "$out/${loader}_fuzz" "${flags[@]}" -merge=1 "$tmp/new" fuzz/corpus/"$loader" "$work" \
      > "$tmp/merge.log" 2>&1 || { cat "$tmp/merge.log"; die "merge failed"; }
    # Merging into an empty directory copies the committed seeds too: drop those.
    for f in fuzz/corpus/"$loader"/*; do
      rm -f "$tmp/new/$(sha1sum < "$f" | cut -c1-40)"
    done
    # One replay of every new input tells which ones load (libFuzzer runs an empty input before
    # the files: its outcome has no "Running:" line and is dropped); keep the smallest of each kind, half
    # of MAX each (the rest from the other kind when one runs short).
    find "$tmp/new" -type f -printf '%s %p\n' | sort -n | cut -d' ' -f2 > "$tmp/by_size"
    total=$(wc -l < "$tmp/by_size")
    : > "$tmp/outcomes"
    if [ "$total" -gt 0 ]; then
      xargs -a "$tmp/by_size" env TINYCNN_FUZZ_REPORT=1 "$out/${loader}_fuzz" \
        -rss_limit_mb=512 -malloc_limit_mb=256 -timeout=5 2>&1 |
        awk '/^Running: /{f=$2} /^tinycnn fuzz: (accepted|refused)$/{if (f != "") print f, $3; f=""}' > "$tmp/outcomes"
    fi
    [ "$(wc -l < "$tmp/outcomes")" -eq "$total" ] || die "replaying the new inputs failed"
    # Inputs that reach a report fuzz/ubsan_ignorelist.txt hides are dropped: the corpus test
    # replays them under the sanitizer build of the test suite, which ignores nothing.
    build "$loader" strict
    strict_ok() {
      "$out/${loader}_fuzz_strict" -rss_limit_mb=512 -malloc_limit_mb=256 -timeout=5 "$1" \
        > /dev/null 2>&1
    }
    half=$(((max + 1) / 2))
    n_ok=$(grep -c ' accepted$' "$tmp/outcomes" || true)
    n_bad=$((total - n_ok))
    keep_ok=$(( n_ok < half ? n_ok : half ))
    keep_bad=$(( max - keep_ok < n_bad ? max - keep_ok : n_bad ))
    keep_ok=$(( max - keep_bad < n_ok ? max - keep_bad : n_ok ))
    added_ok=0 added_bad=0 dropped=0
    # $tmp/outcomes is in size order (xargs keeps the order of its input).
    while read -r f outcome; do
      if [ "$outcome" = accepted ]; then
        [ "$added_ok" -lt "$keep_ok" ] || continue
        prefix=valid_found
      else
        [ "$added_bad" -lt "$keep_bad" ] || continue
        prefix=bad_found
      fi
      if ! strict_ok "$f"; then dropped=$((dropped + 1)); continue; fi
      cp "$f" fuzz/corpus/"$loader"/"${prefix}_$(basename "$f")"
      if [ "$outcome" = accepted ]; then added_ok=$((added_ok + 1)); else added_bad=$((added_bad + 1)); fi
    done < "$tmp/outcomes"
    echo "tools/fuzz.sh: $total new inputs after merging ($n_ok load, $n_bad refused);" \
         "added $added_ok valid_found_* and $added_bad bad_found_* to fuzz/corpus/$loader" \
         "($dropped dropped for an ignored sanitizer report)"
    ;;
  replay)
    loader=${2:-}
    known "$loader" || die "unknown loader '$loader'"
    shift 2
    build "$loader"
    mkdir -p "$out/artifacts/$loader"
    TINYCNN_FUZZ_REPORT=1 "$out/${loader}_fuzz" -rss_limit_mb=512 -malloc_limit_mb=256 \
      -timeout=5 -artifact_prefix="$out/artifacts/$loader/" "$@"
    ;;
  *)
    loader=$1; seconds=${2:-}
    known "$loader" || die "unknown loader '$loader'"
    [[ "$seconds" =~ ^[0-9]+$ ]] || die "SECONDS must be a number of seconds"
    shift 2
    build "$loader"
    mapfile -t flags < <(libfuzzer_flags "$loader")
    # A fresh working corpus from the committed seeds (the seeds themselves are never modified).
    work=$out/work/$loader
    rm -rf "$work"
    mkdir -p "$work" "$out/artifacts/$loader" "$out/logs"
    cp fuzz/corpus/"$loader"/* "$work"/
    log=$out/logs/$loader-$(date +%Y%m%d-%H%M%S).log
    echo "tools/fuzz.sh: fuzzing $loader for $seconds s; log: $log"
    start=$SECONDS
    set +e
    nice -n "$nice_level" "$out/${loader}_fuzz" "${flags[@]}" -max_total_time="$seconds" \
      "$@" "$work" > "$log" 2>&1
    rc=$?
    set -e
    elapsed=$((SECONDS - start))
    # The last status line ("#N DONE/pulse cov: C ft: F corp: K/S exec/s: E ...") and the final
    # stats.
    grep -E '^#[0-9]+' "$log" | tail -n1 || true
    grep -E '^stat::' "$log" || true
    echo "tools/fuzz.sh: $loader: $elapsed s, exit code $rc, corpus $(find "$work" -type f | wc -l) files"
    if [ "$rc" -ne 0 ]; then
      echo "tools/fuzz.sh: $loader: FINDING (see $log and $out/artifacts/$loader/)" >&2
      grep -E -m5 'ERROR:|runtime error:|unexpected exception|differ:|==[0-9]+==' "$log" >&2 || true
      exit 1
    fi
    ;;
esac
