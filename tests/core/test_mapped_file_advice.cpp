// SPDX-License-Identifier: MIT
// MappedFile::adviseNotNeeded: dropped pages of a read-only mapping read back unchanged from the file,
// and memory outside every mapping (a tensor's own buffer) is never touched.
#include "fixture_paths.h"
#include "io/mapped_file.h"

#include <cstring>
#include <fstream>
#include <gtest/gtest.h>
#include <vector>

using namespace qs::core;

TEST(MappedFileAdvice, DroppedPagesReadBackAndOtherMemoryIsUntouched) {
    const auto path = qs::test::outputDir("mapped_file_advice") / "bytes.bin";
    std::vector<unsigned char> want(3 * 4096 + 123);
    for (std::size_t i = 0; i < want.size(); ++i) want[i] = static_cast<unsigned char>(i * 31 + 7);
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(want.data()),
                                                static_cast<std::streamsize>(want.size()));
    const auto file = MappedFile::open(path);
    ASSERT_EQ(file->size(), want.size());
    // A range starting and ending inside pages, then the whole file: the contents come back from the file.
    MappedFile::adviseNotNeeded(file->data() + 100, 5000);
    EXPECT_EQ(std::memcmp(file->data(), want.data(), want.size()), 0);
    MappedFile::adviseNotNeeded(file->data(), file->size());
    EXPECT_EQ(std::memcmp(file->data(), want.data(), want.size()), 0);

    // Heap memory (MADV_DONTNEED would zero anonymous pages) and ranges past a mapping are ignored.
    std::vector<unsigned char> heap(want);
    MappedFile::adviseNotNeeded(heap.data(), heap.size());
    EXPECT_EQ(heap, want);
    MappedFile::adviseNotNeeded(file->data() + 10, file->size()); // runs past the end: ignored
    MappedFile::adviseNotNeeded(nullptr, 10);
    EXPECT_EQ(std::memcmp(file->data(), want.data(), want.size()), 0);
}
