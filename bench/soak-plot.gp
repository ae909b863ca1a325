# SPDX-License-Identifier: BSD-3-Clause
# soak-plot.gp - the plot of bench/bench-soak.sh (docs/PERFORMANCE.md, "Soak"):
#   gnuplot -e "csv='soak.csv'; png='soak.png'; rate='1000'; devs='1000'; mem='gw-mem.csv'; heap='1'" soak-plot.gp
# Three panels over time: RSS of broker and gateway (and, with mem, the
# gateway's SQLite page cache, docs/gateway.md "Memory"); publish->subscriber
# p50/p99 and alert->SMTP p99; messages received per second and errors.
set terminal pngcairo size 1000,900 font ",10"
set output png
set datafile separator ","
set key autotitle columnhead top left
set grid
set multiplot layout 3,1 title sprintf("mqttsec soak: %s devices, %s messages/s, sampled every %s s", devs, rate, (exists("every") ? every : "10"))
set xlabel "time (s)"
set ylabel "RSS (MiB)"
set yrange [0:*]
# with heap=1 the CSV has the broker's $SYS heap/current (column 16, kB;
# docs/broker-plugin.md, "Memory") and its stored messages (column 18)
hp = exists("heap") && heap eq "1"
gw = exists("mem") && strlen(mem) > 0
if (hp) {
	set y2label "messages held by the broker"
	set y2range [0:*]
	set y2tics
}
if (gw && hp) {
	plot csv using 1:($2/1024) with linespoints title "broker RSS (mosquitto + plugin)", \
	     csv using 1:($16 >= 0 ? $16/1024 : NaN) with linespoints title "broker heap/current ($SYS)", \
	     csv using 1:($3/1024) with linespoints title "gateway RSS", \
	     mem using 1:($8/1024) with linespoints title "gateway: SQLite page cache (its part of the RSS)", \
	     csv using 1:($18 >= 0 ? $18 : NaN) axes x1y2 with lines dt 2 title "broker: stored messages (right axis)"
} else {
	if (hp) {
		plot csv using 1:($2/1024) with linespoints title "broker RSS (mosquitto + plugin)", \
		     csv using 1:($16 >= 0 ? $16/1024 : NaN) with linespoints title "broker heap/current ($SYS)", \
		     csv using 1:($18 >= 0 ? $18 : NaN) axes x1y2 with lines dt 2 title "broker: stored messages (right axis)"
	} else {
		if (gw) {
			plot csv using 1:($2/1024) with linespoints title "broker (mosquitto + plugin)", \
			     csv using 1:($3/1024) with linespoints title "gateway", \
			     mem using 1:($8/1024) with linespoints title "gateway: SQLite page cache (its part of the RSS)"
		} else {
			plot csv using 1:($2/1024) with linespoints title "broker (mosquitto + plugin)", \
			     csv using 1:($3/1024) with linespoints title "gateway"
		}
	}
}
unset y2label
unset y2tics
set y2range [*:*]
set ylabel "latency (ms)"
set logscale y
set yrange [*:*]
plot csv using 1:($10 > 0 ? $10 : NaN) with linespoints title "publish -> subscriber p50", \
     csv using 1:($11 > 0 ? $11 : NaN) with linespoints title "publish -> subscriber p99", \
     csv using 1:($14 > 0 ? $14 : NaN) with linespoints title "alert -> SMTP p99"
unset logscale y
set ylabel "per second"
set yrange [0:*]
set y2label "errors per row"
set y2range [0:10<*]
set y2tics
plot csv using 1:($7/(exists("every") ? every + 0 : 10)) with linespoints title "messages received/s", \
     csv using 1:15 axes x1y2 with linespoints title "errors (right axis)"
unset multiplot
