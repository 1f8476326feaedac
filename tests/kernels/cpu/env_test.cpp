// The kernels' environment switches (kernels/env.hpp): which values they take, which they ignore.
#include <catch2/catch.hpp>

#include <tinycnn/kernels/env.hpp>

#include <cstdlib>

TEST_CASE("kernels: env_switch reads the digits up to its highest and nothing else",
          "[kernels][env]") {
  using tinycnn::kernels::env_switch;
  const char* name = "TINYCNN_TEST_ENV_SWITCH";
  ::unsetenv(name);
  CHECK(env_switch(name) == 2);
  CHECK(env_switch(name, 1) == 1);
  ::setenv(name, "0", 1);
  CHECK(env_switch(name, 1) == 0);
  ::setenv(name, "1", 1);
  CHECK(env_switch(name, 2) == 1);
  ::setenv(name, "2", 1);
  CHECK(env_switch(name, 1) == 1);  // beyond the default highest value, "1"
  CHECK(env_switch(name, 1, 2) == 2);
  CHECK(env_switch(name, 7, 9) == 2);
  for (const char* ignored : {"", "3", "12", "02", "on", " 1", "-1"}) {
    INFO("value '" << ignored << "'");
    ::setenv(name, ignored, 1);
    CHECK(env_switch(name, 5, 2) == 5);
  }
  ::unsetenv(name);
}
