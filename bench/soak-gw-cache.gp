# SPDX-License-Identifier: BSD-3-Clause
# soak-gw-cache.gp - the gateway's memory in two soaks with different
# [store] cache_size (docs/PERFORMANCE.md, "Soak"; docs/gateway.md,
# "Memory"): RSS, SQLite page cache and C heap from bench-soak.sh's
# gw-mem.csv files:
#   gnuplot -e "a='gw-mem-2m.csv'; b='gw-mem-256k.csv'; png='soak-gw-cache.png'" soak-gw-cache.gp
set terminal pngcairo size 1000,450 font ",10" noenhanced
set output png
set datafile separator ","
set grid
set key center right box opaque
set title "gateway memory at 23 alerts/s (400 messages/s, 200 devices), sampled by SIGUSR1 every 10 s"
set xlabel "time (s)"
set ylabel "MiB"
set yrange [0:20]
plot a using 1:($2/1024) with lines lw 2 title "RSS, cache_size 2M (default), 1200 s", \
     a using 1:($8/1024) with lines lw 2 title "its SQLite page cache", \
     a using 1:($3/1024) with lines title "its C heap in use", \
     b using 1:($2/1024) with lines lw 2 dt 2 title "RSS, cache_size 256k, 900 s (same time, same load)", \
     b using 1:($8/1024) with lines lw 2 dt 2 title "its SQLite page cache", \
     b using 1:($3/1024) with lines dt 2 title "its C heap in use"
