package jobs_test

import (
	"flag"
	"os"
	"strconv"
	"testing"
)

// jobsParallel is how many tests run at once unless -parallel says
// otherwise: the tests wait for retry schedules and receivers (3 s of CPU in
// 30 s), so one per core leaves the machine idle; more would crowd
// PostgreSQL's connections (each queue holds a pool).
const jobsParallel = 4

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(jobsParallel))
	}
	os.Exit(m.Run())
}
