#!/usr/bin/env python3
"""Tables of style iterations per minute with the filters kept and not (TINYCNN_FILTER_CACHE=1 / 0)
from a log of tools/gpu/cache_round.sh cache:  python3 tools/gpu/cache_table.py style_cache.log"""
import re,sys
log=open(sys.argv[1]).read()
parts=re.split(r'^== ', log, flags=re.M)[1:]
d={};mem={}
def num(v):
    mult={'k':1e3,'M':1e6,'G':1e9}
    return float(v[:-1])*mult[v[-1]] if v[-1] in mult else float(v)
for p in parts:
    head=p.splitlines()[0]
    m=re.match(r'(\S+) TINYCNN_CUDA_TF32=(\d) TINYCNN_FILTER_CACHE=(\d)',head)
    model,tf,cache=m.groups()
    for line in p.splitlines():
        mm=re.match(r'style/(\w+)/cuda/(\d+)x\d+(/graph)?/min_time.*iters_per_min=(\S+) peak_bytes=(\S+)',line)
        if mm:
            k=(model,tf,mm.group(2),bool(mm.group(3)),cache)
            d[k]=num(mm.group(4)); mem[k]=num(mm.group(5))
for tf in '10':
    print("\n"+("TF32" if tf=='1' else "fp32")+"\n")
    print("| model | px | plain, kept | plain, not kept | change | graph, kept | graph, not kept | change | peak MB kept / not |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for model in ['vgg16','vgg19','nin']:
        for px in ['64','128','256','512','1024']:
            a=d[(model,tf,px,False,'1')];b=d[(model,tf,px,False,'0')]
            c=d[(model,tf,px,True,'1')];e=d[(model,tf,px,True,'0')]
            ma=mem[(model,tf,px,False,'1')];mb=mem[(model,tf,px,False,'0')]
            print(f"| {model} | {px} | {a:.0f} | {b:.0f} | {(a/b-1)*100:+.1f} % | {c:.0f} | {e:.0f} | {(c/e-1)*100:+.1f} % | {ma/1e6:.0f} / {mb/1e6:.0f} |")
