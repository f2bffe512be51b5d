// GoogleTest main for tests that need DPDK (rte_hash, rte_malloc, mempools):
// initialises EAL the way offline runs do, without hugepages or devices.
#include <gtest/gtest.h>
#include <rte_eal.h>
#include <unistd.h>

#include <string>

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  std::string prefix = "--file-prefix=loupe-test" + std::to_string(getpid());
  const char* eal[] = {"loupe-test", "--no-huge", "-m", "1024", "--no-shconf", "--no-pci",
                       "--no-telemetry", "--log-level=*:error", "-l", "0", prefix.c_str()};
  if (rte_eal_init(static_cast<int>(std::size(eal)), const_cast<char**>(eal)) < 0) {
    fprintf(stderr, "EAL init failed\n");
    return 1;
  }
  const int rc = RUN_ALL_TESTS();
  rte_eal_cleanup();
  return rc;
}
