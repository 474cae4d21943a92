// Package cputime reads the process's CPU time. Benchmarks report speed per
// CPU second besides wall time because the machines they run on are shared:
// a busy neighbour stretches wall time without changing the work done.
package cputime
