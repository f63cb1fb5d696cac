// SPDX-License-Identifier: MIT
#pragma once
// The ONNX protobuf messages (onnx::ModelProto, ...). Debian's libonnx_proto is built with ONNX_ML=1
// in namespace onnx; the definitions are set here instead of on every compile command line.
#ifndef ONNX_NAMESPACE
#define ONNX_NAMESPACE onnx
#endif
#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#include <onnx/onnx_pb.h>
