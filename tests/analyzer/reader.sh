# reader.sh: the trace reader on hand-written traces that follow
# docs/trace-format.md: version rules, corrupt and truncated lines, unknown
# kinds and fields, incomplete sweeps, late frees, exec images, blocks a
# fork child inherited, trace=all lines.
. "$top_srcdir/tests/analyzer/lib.sh"

start() { # PID [EXTRA] [VERSION]
	printf '{"ev":"start","schema":"refsweep-trace","version":"%s","pid":%s,"ppid":1,"exe":"/bin/x","argv":["x"],"time":1%s,"options":{}}\n' "${3:-1.0}" "$1" "${2:-}"
}
stack() { printf '{"ev":"stack","id":%s,"frames":["0x%x"],"truncated":false}\n' "$1" "$((0x1000 + $1))"; }
leakev() { # SWEEP KIND STACK BLOCKS BYTES [EXTRA]
	printf '{"ev":"leak","sweep":%s,"kind":"%s","stack":%s,"blocks":%s,"bytes":%s,"sample":"0x%x"%s}\n' "$1" "$2" "$3" "$4" "$5" "$((0x9000 + $3))" "${6:-}"
}
sweepev() { printf '{"ev":"sweep","seq":%s,"trigger":"exit","partial":false,"classes":{"reachable":{"blocks":1,"bytes":10}}}\n' "$1"; }
exitev() { printf '{"ev":"exit","how":"%s","status":%s,"signal":0}\n' "${1:-return}" "${2:-0}"; }
sum() { jq -r ".summary.$2.bytes" "$1"; }

# A good trace, with things a newer writer might add.
{ start 10; stack 1; stack 2; leakev 1 definite 1 2 64
  echo '{"ev":"brand_new_kind","x":[1,2,{"y":null}]}'
  leakev 1 indirect 2 1 8 ',"future_field":{"a":1}'
  echo '{"ev":"thread","op":"start","tid":11}'
  echo '{"ev":"alloc","a":"0x10","n":8,"s":1,"tid":10}'
  echo '{"ev":"free","a":"0x10","tid":10}'
  sweepev 1; exitev; } >"$T/good.rsj"
rc 0 "$RS" report -f json "$T/good.rsj"
cp "$T/out" "$T/good.json"
t "definite counted" [ "$(sum "$T/good.json" definite)" = 64 ]
t "indirect counted" [ "$(sum "$T/good.json" indirect)" = 8 ]
t "reachable from the sweep" [ "$(sum "$T/good.json" reachable)" = 10 ]
t "exit status" [ "$(jqv "$T/good.json" '.processes[0].exit_status')" = 0 ]

# A newer minor version is read; a newer major one is refused.
{ start 10 "" 1.7; stack 1; leakev 1 definite 1 1 5; sweepev 1; } >"$T/minor.rsj"
rc 0 "$RS" report -f json "$T/minor.rsj"
t "minor version read" [ "$(sum "$T/out" definite)" = 5 ]
{ start 10 "" 1.2.3; stack 1; leakev 1 definite 1 1 5; sweepev 1; } >"$T/patch.rsj"
rc 0 "$RS" report -f json "$T/patch.rsj"
{ start 10 "" 1.x; sweepev 1; } >"$T/badver.rsj"
rc 2 "$RS" report "$T/badver.rsj"
t "bad version named" has "$T/err" "badver.rsj:1: unreadable schema version '1.x'"
{ start 10 "" 2.0; sweepev 1; } >"$T/major.rsj"
rc 2 "$RS" report "$T/major.rsj"
t "major version message" has "$T/err" "major.rsj:1: trace schema version 2.0"

# A corrupt line names the file and line.
{ start 10; stack 1; echo '{"ev":"leak","sweep":1,'; sweepev 1; } >"$T/corrupt.rsj"
rc 2 "$RS" report "$T/corrupt.rsj"
t "corrupt line located" has "$T/err" "corrupt.rsj:3:"
{ start 10; stack 1; leakev 1 definite 1 '"x"' 5; sweepev 1; } >"$T/type.rsj"
rc 2 "$RS" check "$T/type.rsj"
t "bad field named" has "$T/err" "type.rsj:3: expected an integer in field 'blocks'"
{ echo '{"ev":"sweep","seq":1}'; } >"$T/nostart.rsj"
rc 2 "$RS" report "$T/nostart.rsj"
t "no start event" has "$T/err" "nostart.rsj:1: not a refsweep trace"
printf '[1,2]\n' >"$T/array.rsj"
rc 2 "$RS" report "$T/array.rsj"
t "non-object line" has "$T/err" "array.rsj:1: expected a JSON object"

# A truncated last line is dropped with a note; what came before counts.
{ start 10; stack 1; leakev 1 definite 1 1 7; sweepev 1; printf '{"ev":"sweep","seq":2,"trig'; } >"$T/trunc.rsj"
rc 0 "$RS" report -f json "$T/trunc.rsj"
t "truncated: earlier lines count" [ "$(sum "$T/out" definite)" = 7 ]
t "truncated: noted" has "$T/out" "trunc.rsj:5: last line is truncated"

# Leaks of a sweep whose sweep line never came do not replace the final
# state; late frees after the final sweep are subtracted, earlier ones not.
{ start 10; stack 1; stack 2
  leakev 1 definite 1 2 64; sweepev 1
  echo '{"ev":"late_free","address":"0x1","size":32,"stack":1,"kind":"definite","sweep":1}'
  leakev 2 definite 2 9 900; } >"$T/incomplete.rsj"
rc 0 "$RS" report -f json "$T/incomplete.rsj"
t "incomplete sweep ignored, late free applied" [ "$(sum "$T/out" definite)" = 32 ]
t "freed after reported" [ "$(jqv "$T/out" .summary.freed_after_reported.bytes)" = 32 ]
{ start 10; stack 1
  leakev 1 definite 1 2 64; sweepev 1
  echo '{"ev":"late_free","address":"0x1","size":32,"stack":1,"kind":"definite","sweep":0}'; } >"$T/oldlf.rsj"
rc 0 "$RS" report -f json "$T/oldlf.rsj"
t "late free of an older sweep changes nothing" [ "$(sum "$T/out" definite)" = 64 ]
t "... but is listed" jq -e '.summary.freed_after_reported.bytes == 32 and (.freed_after_reported | length) == 1' "$T/out"

# A run directory: an image replaced by exec contributes nothing; an empty
# trace is skipped with a warning; a fork child's inherited block that the
# parent reports counts once.
mkdir "$T/dir"
{ start 20; stack 1; leakev 1 definite 1 1 1000; sweepev 1; exitev exec; } >"$T/dir/a.20.1.rsj"
{ start 20 ',"exec_from":"a.20.1.rsj"'; stack 1; leakev 1 definite 1 1 1; sweepev 1; exitev return 3; } >"$T/dir/b.20.2.rsj"
{ start 30; stack 1; leakev 1 definite 1 1 16; sweepev 1; exitev; } >"$T/dir/p.30.1.rsj"
{ start 31 ',"forked_from":30,"parent_image":"p.30.1.rsj"'; stack 1; stack 2
  leakev 1 definite 1 1 16 ',"inherited":true,"addresses":["0x9001"]'
  leakev 1 definite 2 1 4; sweepev 1; exitev; } >"$T/dir/p.31.1.rsj"
: >"$T/dir/empty.32.1.rsj"
rc 0 "$RS" report -f json "$T/dir"
cp "$T/out" "$T/dir.json"
t "exec image dropped, inherited block counted once" [ "$(sum "$T/dir.json" definite)" = 21 ]
t "three processes" [ "$(jqv "$T/dir.json" '.processes|length')" = 3 ]
t "exec'd process has the last image's status" [ "$(jqv "$T/dir.json" '.processes[]|select(.pid==20)|.exit_status')" = 3 ]
t "empty trace warned" has "$T/dir.json" "empty.32.1.rsj: no start event"

# Inherited blocks the parent does not report are the child's.
mkdir "$T/dir2"
{ start 30; sweepev 1; exitev; } >"$T/dir2/p.30.1.rsj"
{ start 31 ',"forked_from":30,"parent_image":"p.30.1.rsj"'; stack 1
  leakev 1 definite 1 1 16 ',"inherited":true,"addresses":["0x9001"]'; sweepev 1; exitev; } >"$T/dir2/p.31.1.rsj"
rc 0 "$RS" report -f json "$T/dir2"
t "inherited leak kept when the parent has it reachable" [ "$(sum "$T/out" definite)" = 16 ]

# A block the parent names uses up its group's share: a second inherited
# block with the same stack that the parent did not report is the child's.
mkdir "$T/dir3"
{ start 30; stack 1; leakev 1 definite 1 1 16; sweepev 1; exitev; } >"$T/dir3/p.30.1.rsj"
{ start 31 ',"forked_from":30,"parent_image":"p.30.1.rsj"'; stack 1
  leakev 1 definite 1 2 32 ',"inherited":true,"addresses":["0x9001","0x5550"]'; sweepev 1; exitev; } >"$T/dir3/p.31.1.rsj"
rc 0 "$RS" report -f json "$T/dir3"
t "named and unnamed inherited blocks" [ "$(sum "$T/out" definite)" = 32 ]
t "... merged with the parent's group" jq -e '(.leaks | length) == 1 and .leaks[0].blocks == 2 and .leaks[0].pids == [30,31]' "$T/out"

# Frames resolve to the modules loaded when the stack was emitted: after
# dlclose and another dlopen at the same address, to the new one; a
# non-PIE executable (bias 0) takes addresses no range holds.
{ start 40
  echo '{"ev":"module","path":"/bin/nonpie","base":"0x0","size":8192,"main":true}'
  echo '{"ev":"module","path":"/lib/a.so","base":"0x7f0000001000","size":4096}'
  echo '{"ev":"stack","id":1,"frames":["0x7f0000001800","0x401234"]}'
  echo '{"ev":"unload","path":"/lib/a.so","base":"0x7f0000001000"}'
  echo '{"ev":"module","path":"/lib/b.so","base":"0x7f0000001000","size":4096}'
  echo '{"ev":"stack","id":2,"frames":["0x7f0000001800"]}'
  leakev 1 definite 1 1 8; leakev 1 definite 2 1 4; sweepev 1; } >"$T/mods.rsj"
rc 0 "$RS" report -f json --no-symbolize "$T/mods.rsj"
t "modules by time and range" jq -e '[.leaks[] | [.stack[].module]] == [["/lib/a.so","/bin/nonpie"],["/lib/b.so"]]' "$T/out"

# Events the shim had to drop make the report say it may be incomplete.
{ start 50; sweepev 1; echo '{"ev":"exit","how":"return","status":0,"signal":0,"events_dropped":5}'; } >"$T/dropped.rsj"
rc 0 "$RS" report -f json "$T/dropped.rsj"
t "dropped events warned" jq -e 'any(.warnings[]; test("pid 50 .* dropped 5 trace events")) and .processes[0].exit.events_dropped == 5' "$T/out"

# Unreadable inputs.
rc 2 "$RS" report "$T/does-not-exist"
mkdir "$T/nothing"
rc 2 "$RS" report "$T/nothing"
rc 2 "$RS" report
rc 2 "$RS" report -f nope "$T/good.rsj"
finish
