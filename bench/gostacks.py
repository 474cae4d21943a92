# bench/gostacks.py: run inside gdb attached to a Go process (bench/sip-load.sh
# does it with SIPLOAD_STACKS=FILE). Prints every live goroutine's stack size
# and the part in use, grouped by the function the goroutine started in:
#
#   count  stack-bytes  used-bytes(rounded down to 512)  start function
#
# What a call's goroutines cost in stack memory, which the runtime's metrics
# give only in total. It reads the runtime's own structures (allgs, each g's
# stack bounds and saved stack pointer), so it needs the binary's DWARF
# information (go build keeps it unless -ldflags=-w is given).
import gdb
from collections import Counter

allgs = gdb.parse_and_eval("'runtime.allgs'")
count = Counter()
for i in range(int(allgs['len'])):
    g = allgs['array'][i]
    if int(g['atomicstatus']['value']) == 6:  # _Gdead
        continue
    size = int(g['stack']['hi']) - int(g['stack']['lo'])
    used = int(g['stack']['hi']) - int(g['sched']['sp'])
    pc = int(g['startpc'])
    try:
        fn = gdb.execute("info symbol %d" % pc, to_string=True).split(' in ')[0].strip()
    except gdb.error:
        fn = hex(pc)
    count[(fn, size, used // 512 * 512)] += 1
for (fn, size, used), n in sorted(count.items(), key=lambda x: -x[1])[:25]:
    print(n, size, used, fn)
