// tinycnn's version (kept equal to project(VERSION) in CMakeLists.txt; a test checks it).
#pragma once

#define TINYCNN_VERSION_MAJOR 0
#define TINYCNN_VERSION_MINOR 1
#define TINYCNN_VERSION_PATCH 0
#define TINYCNN_VERSION_STRING "0.1.0"
