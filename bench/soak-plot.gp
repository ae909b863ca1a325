# SPDX-License-Identifier: BSD-3-Clause
# soak-plot.gp - the plot of bench/bench-soak.sh (docs/PERFORMANCE.md, "Soak"):
#   gnuplot -e "csv='soak.csv'; png='soak.png'; rate='1000'; devs='1000'; mem='gw-mem.csv'" soak-plot.gp
# Three panels over time: RSS of broker and gateway (and, with mem, the
# gateway's SQLite page cache, docs/gateway.md "Memory"); publish->subscriber
# p50/p99 and alert->SMTP p99; messages received per second and errors.
set terminal pngcairo size 1000,900 font ",10"
set output png
set datafile separator ","
set key autotitle columnhead top left
set grid
set multiplot layout 3,1 title sprintf("mqttsec soak: %s devices, %s messages/s, sampled every 10 s", devs, rate)
set xlabel "time (s)"
set ylabel "RSS (MiB)"
set yrange [0:*]
if (exists("mem") && strlen(mem) > 0) {
	plot csv using 1:($2/1024) with linespoints title "broker (mosquitto + plugin)", \
	     csv using 1:($3/1024) with linespoints title "gateway", \
	     mem using 1:($8/1024) with linespoints title "gateway: SQLite page cache (its part of the RSS)"
} else {
	plot csv using 1:($2/1024) with linespoints title "broker (mosquitto + plugin)", \
	     csv using 1:($3/1024) with linespoints title "gateway"
}
set ylabel "latency (ms)"
set logscale y
set yrange [*:*]
plot csv using 1:($10 > 0 ? $10 : NaN) with linespoints title "publish -> subscriber p50", \
     csv using 1:($11 > 0 ? $11 : NaN) with linespoints title "publish -> subscriber p99", \
     csv using 1:($14 > 0 ? $14 : NaN) with linespoints title "alert -> SMTP p99"
unset logscale y
set ylabel "per second"
set yrange [0:*]
set y2label "errors per 10 s"
set y2range [0:10<*]
set y2tics
plot csv using 1:($7/10) with linespoints title "messages received/s", \
     csv using 1:15 axes x1y2 with linespoints title "errors (right axis)"
unset multiplot
