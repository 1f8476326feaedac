// Interoperability with the reference `safetensors` Python package, both ways, when the package is
// installed (pip install safetensors numpy); otherwise the case reports itself skipped.
#include <catch2/catch.hpp>

#include <tinycnn/io/checkpoint.hpp>
#include <tinycnn/models/fashion_mnist.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

using namespace tinycnn;

namespace {
std::string run(const std::string& cmd, int& status) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) return status = -1, out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p.get())) out += buf;
  status = pclose(p.release());
  return out;
}
}  // namespace

TEST_CASE("safetensors: files interoperate with the reference Python package", "[io][interop]") {
  int status = 0;
  run("python3 -c 'import safetensors, numpy' 2>/dev/null", status);
  if (status != 0) {
    std::cout << "SKIPPED: Python safetensors not installed" << std::endl;
    return;
  }
  const std::string script = std::string(TINYCNN_SOURCE_DIR) + "/tools/check_safetensors_interop.py";
  const auto dir = std::filesystem::temp_directory_path();
  const std::string ours = (dir / "tinycnn_interop_ours.safetensors").string();
  const std::string theirs = (dir / "tinycnn_interop_theirs.safetensors").string();

  // tinycnn writes a checkpoint; the package reads every tensor with its shape and metadata.
  auto net = models::lenet5<float>(1);
  io::save_checkpoint(ours, net, nullptr, {{"epoch", "3"}});
  const std::string listing = run("python3 " + script + " read " + ours, status);
  INFO(listing);
  REQUIRE(status == 0);
  for (auto& [name, t] : net.state())
    CHECK_THAT(listing, Catch::Contains("model." + name + " float32 " + t->shape().to_string()));
  CHECK_THAT(listing, Catch::Contains("'epoch': '3'"));

  // The package writes F32, F64, F16 and I64 tensors; tinycnn reads them.
  run("python3 " + script + " write " + theirs, status);
  REQUIRE(status == 0);
  io::SafetensorsFile file(theirs);
  CHECK(file.shape("weight") == Shape{3, 4});
  CHECK(file.tensor<double>("bias").to_vector() == std::vector<double>{0, 1, 2});
  CHECK(file.tensor<std::int64_t>("labels").to_vector() == std::vector<std::int64_t>{1, 0, 9});
  CHECK(file.tensor<float>("half").to_vector() == std::vector<float>{1.5f, -2.0f});
  CHECK_THAT(file.metadata("written_by"), Catch::StartsWith("safetensors "));
  std::filesystem::remove(ours);
  std::filesystem::remove(theirs);
}
