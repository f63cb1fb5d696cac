// SPDX-License-Identifier: MIT
#pragma once
#include "tensor/tensor.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qs::core {

/// A small RAII wrapper over an HDF5 file, for data sets, caches and the experiment store.
///
/// Paths inside the file are "/"-separated ("calib/layer3/xtx"); a leading "/" is optional.
/// Reading converts any integer or float dataset to float32 or int64. Writing creates missing
/// parent groups, replaces an existing dataset of the same name, and stores datasets over 4 KiB
/// chunked with gzip level 4. Errors throw Error naming the file and the dataset. HDF5's own
/// error-stack printing is silenced; every failure comes back as an Error.
/// Not thread-safe (HDF5 builds without the thread-safe option are not): one thread per file.
class Hdf5File {
public:
    enum class Mode {
        Read,      ///< existing file, read only
        ReadWrite, ///< existing file, or a new one when absent
        Truncate,  ///< new empty file (replaces an existing one)
    };

    /// Opens `path`; throws Error when it is missing (Read) or not an HDF5 file.
    explicit Hdf5File(const std::filesystem::path& path, Mode mode = Mode::Read);
    ~Hdf5File();
    Hdf5File(Hdf5File&& other) noexcept;
    Hdf5File& operator=(Hdf5File&& other) noexcept;
    Hdf5File(const Hdf5File&) = delete;
    Hdf5File& operator=(const Hdf5File&) = delete;

    const std::filesystem::path& path() const { return m_path; }

    /// True when a group or dataset exists at `name`.
    bool exists(const std::string& name) const;
    /// Full paths ("/a/b") of every dataset under `group` (recursive, sorted by name).
    std::vector<std::string> listDatasets(const std::string& group = "/") const;
    /// Dataset dims.
    Shape shape(const std::string& dataset) const;
    /// True for an integer dataset, false for a float one (throws for other classes).
    bool isInteger(const std::string& dataset) const;

    /// Reads a dataset as an owning float32 tensor (any integer/float type is converted).
    Tensor readF32(const std::string& dataset) const;
    /// Reads a dataset as an owning int64 tensor (floats are truncated toward zero).
    Tensor readI64(const std::string& dataset) const;
    /// Reads a float or integer dataset as float64 values (row-major) with its shape, without rounding
    /// through float32 (stored analysis results must come back bit-identical).
    std::vector<double> readF64(const std::string& dataset, Shape* shape = nullptr) const;
    /// Reads with a rank check: throws Error ("expected rank 2, found [3]") when it differs.
    Tensor readF32(const std::string& dataset, std::size_t rank) const;

    /// Creates a group (and missing parents); no-op when it exists.
    void createGroup(const std::string& group);
    /// Writes a dataset of `shape` (numel(shape) values) in the given element type.
    void writeF32(const std::string& dataset, const Shape& shape, const float* data);
    void writeF64(const std::string& dataset, const Shape& shape, const double* data);
    void writeI64(const std::string& dataset, const Shape& shape, const std::int64_t* data);
    /// Writes a float32 or int64 tensor (other dtypes are converted to float32).
    void write(const std::string& dataset, const Tensor& t);

    /// Sets a string attribute on a group or dataset ("/" is the file's root group).
    void setAttribute(const std::string& object, const std::string& key, const std::string& value);
    /// A string attribute, nullopt when absent.
    std::optional<std::string> attribute(const std::string& object, const std::string& key) const;

    /// Flushes written data to disk.
    void flush();

private:
    std::string where(const std::string& name) const;
    Tensor read(const std::string& dataset, bool asInt) const;
    void writeRaw(const std::string& dataset, const Shape& shape, const void* data, std::int64_t fileType,
                  std::int64_t memType, std::size_t elementSize);

    std::filesystem::path m_path;
    std::int64_t m_file = -1; ///< hid_t
};

/// True when `spec` has the form FILE.h5:DATASET (also .hdf5/.hdf).
bool isHdf5Spec(const std::string& spec);
/// Splits "FILE.h5:DATASET" into file and dataset; throws Error for another form.
std::pair<std::filesystem::path, std::string> splitHdf5Spec(const std::string& spec);

} // namespace qs::core
