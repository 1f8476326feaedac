// 200 iterations of style transfer on real photographs from a Debian package
// (python-matplotlib-data: grace_hopper.jpg as content, Minduka_Present_Blue_Pack.png as style),
// with NIN and the chainer-gogh preset on the CPU: the total loss must fall steadily and the image
// must be written and read back. The network has seeded random weights (pretrained ones are too
// large for the test suite); the point here is the whole pipeline on real images.
#include <catch2/catch.hpp>

#include <tinycnn/io/image.hpp>
#include <tinycnn/models/nin.hpp>
#include <tinycnn/style/presets.hpp>

#include <filesystem>
#include <iostream>
#include <vector>

#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace tinycnn;

TEST_CASE("style transfer: 200 iterations on real images lower the loss and write the image",
          "[style][cpu][demo]") {
  const fs::path dir = "/usr/share/matplotlib/mpl-data/sample_data";
  if (!fs::exists(dir / "grace_hopper.jpg") || !fs::exists(dir / "Minduka_Present_Blue_Pack.png")) {
    std::cout << "SKIPPED: matplotlib sample images not installed (python-matplotlib-data)" << std::endl;
    WARN("SKIPPED: matplotlib sample images not installed (python-matplotlib-data)");
    return;
  }
  const auto pre = io::Preprocess::kCaffe;
  const auto content_img = io::load_image(dir / "grace_hopper.jpg");
  const auto [w, h] = io::parse_size("128", content_img.width, content_img.height);
  const auto content = io::to_tensor<float>(io::resize(content_img, w, h), pre);
  const auto style_img = io::to_tensor<float>(io::load_image(dir / "Minduka_Present_Blue_Pack.png"), pre);

  auto net = models::nin_imagenet<float, cpu>({.classifier = false, .seed = 5});
  style::StyleTransfer<float, cpu> st(net, style::chainer_gogh_nin());
  st.set_content(content);
  st.set_style(style_img);
  auto image = content.clone();
  std::vector<double> losses;
  for (int i = 0; i < 200; ++i) losses.push_back(st.step(image).total());
  std::cout << "style demo (NIN, " << w << "x" << h << "): loss at 1, 50, 100, 150, 200: " << losses[0]
            << ", " << losses[49] << ", " << losses[99] << ", " << losses[149] << ", " << losses[199]
            << std::endl;
  INFO("loss at 1, 50, 100, 150, 200: " << losses[0] << ", " << losses[49] << ", " << losses[99]
                                         << ", " << losses[149] << ", " << losses[199]);
  // Steadily: every 50 iterations lower than the 50 before, and far below the start.
  for (int i = 50; i < 200; i += 50) REQUIRE(losses[std::size_t(i + 49)] < losses[std::size_t(i - 1)]);
  REQUIRE(losses.back() < 0.1 * losses.front());

  tinycnn::test::TempDir tmp;
  const auto out = tmp.path() / "stylized.png";
  io::save_image(out, io::from_tensor(image, pre));
  const auto back = io::load_image(out);
  REQUIRE(back.width == w);
  REQUIRE(back.height == h);
}
