#!/bin/sh
# test_launcher BUILD_DIR: the `hakmem` launcher, from the build tree and from an installed (and
# then moved) prefix: --version names the library next to it; the program runs with libhakmem
# preloaded first (an LD_PRELOAD already set stays after it); --stats / --stats=json /
# --stats-file / --no-daemon / --verbose set their variables; the program's exit status comes
# back; and without the library, or with a wrong HAKMEM_LIBRARY, it fails with a clear message.
set -u
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-launcher.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL $*"; exit 1; }

# check_launcher LAUNCHER WHERE: every behaviour, for the launcher at LAUNCHER.
check_launcher() {
    l=$1
    where=$2
    v=$("$l" --version) || fail "$where: --version failed"
    case $v in "hakmem "[0-9]*" ("*libhakmem.so.0")") ;; *) fail "$where: --version printed '$v'" ;; esac
    lib=$("$l" --library)
    [ -f "$lib" ] || fail "$where: --library printed '$lib', not a file"
    echo "ok   $where: --version: $v"

    maps=$("$l" -- cat /proc/self/maps) || fail "$where: running cat"
    echo "$maps" | grep -q "libhakmem" || fail "$where: libhakmem is not mapped in the program"
    other=$(ls /lib/*/libm.so.6 /lib/libm.so.6 /lib64/libm.so.6 2>/dev/null | head -n 1)
    if [ -n "$other" ]; then
        pre=$(LD_PRELOAD=$other "$l" sh -c 'echo "$LD_PRELOAD"')
        [ "$pre" = "$lib:$other" ] || fail "$where: LD_PRELOAD became '$pre', want '$lib:$other'"
    fi
    echo "ok   $where: the program runs with libhakmem preloaded first"

    "$l" --stats --stats-file "$tmp/table" -- ls / >/dev/null || fail "$where: --stats run"
    grep -q "hakmem statistics" "$tmp/table" || fail "$where: --stats --stats-file wrote no table"
    "$l" --stats=json --stats-file="$tmp/json" ls / >/dev/null || fail "$where: --stats=json run"
    grep -q '"bytes_mapped":' "$tmp/json" || fail "$where: --stats=json wrote no JSON: $(head -c 200 "$tmp/json")"
    err=$("$l" --no-daemon --verbose -- ls / 2>&1 >/dev/null)
    echo "$err" | grep -Eq 'HAKMEM_REFILL_THREAD +0' || fail "$where: --no-daemon --verbose: '$err'"
    echo "ok   $where: --stats, --stats=json, --stats-file, --no-daemon, --verbose set their variables"

    "$l" -- sh -c 'exit 3'
    [ $? -eq 3 ] || fail "$where: the program's exit status 3 did not come back"
    out=$(HAKMEM_LIBRARY=$tmp/none.so "$l" -- true 2>&1)
    rc=$?
    [ $rc -ne 0 ] && echo "$out" | grep -q "HAKMEM_LIBRARY=$tmp/none.so: no such file" ||
        fail "$where: a wrong HAKMEM_LIBRARY gave status $rc and '$out'"
    out=$("$l" --bogus true 2>&1)
    [ $? -eq 2 ] && echo "$out" | grep -q "unknown option" || fail "$where: --bogus: '$out'"
    echo "ok   $where: exit status passes through; wrong HAKMEM_LIBRARY and unknown options are errors"
}

check_launcher "$build/bin/hakmem" "build tree"

cmake --install "$build" --prefix "$tmp/staging" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "install"; }
mv "$tmp/staging" "$tmp/moved"
check_launcher "$tmp/moved/bin/hakmem" "installed prefix (moved)"
case $("$tmp/moved/bin/hakmem" --library) in "$tmp/moved/"*) ;; *) fail "the moved launcher uses another library" ;; esac
ln -s "$tmp/moved/bin/hakmem" "$tmp/link"
"$tmp/link" --version >/dev/null || fail "a symlink to the launcher does not find the library"
echo "ok   the moved launcher uses the library next to it, also through a symlink"

mkdir "$tmp/alone"
cp "$tmp/moved/bin/hakmem" "$tmp/alone/hakmem"
out=$("$tmp/alone/hakmem" -- true 2>&1)
rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "cannot find the hakmem library" || fail "without the library: status $rc, '$out'"
echo "ok   without its library the launcher says so: $out"
