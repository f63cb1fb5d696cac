// SPDX-License-Identifier: MIT
#include "io/hdf5_file.h"

#include "base/error.h"

#include <hdf5.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <mutex>

namespace qs::core {

static_assert(sizeof(hid_t) == sizeof(std::int64_t), "hid_t is stored as int64 in the header");

namespace {

// HDF5 prints its error stack to stderr by default; the engine reports errors itself.
void silenceHdf5() {
    static std::once_flag once;
    std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

// Closes an HDF5 handle of any kind when it goes out of scope.
class Handle {
public:
    explicit Handle(hid_t id = -1) : m_id(id) {}
    ~Handle() {
        if (m_id >= 0) H5Idec_ref(m_id);
    }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    hid_t get() const { return m_id; }
    bool ok() const { return m_id >= 0; }

private:
    hid_t m_id;
};

std::string normalise(const std::string& name) { return name.empty() || name[0] != '/' ? "/" + name : name; }

// Parents of "/a/b/c": "/a", "/a/b".
void ensureParents(hid_t file, const std::string& path, const std::string& where) {
    for (std::size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
        const std::string parent = path.substr(0, pos);
        if (H5Lexists(file, parent.c_str(), H5P_DEFAULT) > 0) continue;
        Handle g(H5Gcreate2(file, parent.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        if (!g.ok()) throw Error(where + ": cannot create group '" + parent + "'");
    }
}

// True when every component of `path` exists (H5Lexists fails on missing intermediates).
bool pathExists(hid_t file, const std::string& path) {
    if (path == "/") return true;
    for (std::size_t pos = path.find('/', 1);; pos = path.find('/', pos + 1)) {
        const std::string part = path.substr(0, pos);
        if (H5Lexists(file, part.c_str(), H5P_DEFAULT) <= 0) return false;
        if (pos == std::string::npos) return true;
    }
}

herr_t collectDataset(hid_t group, const char* name, const H5L_info_t*, void* out) {
    H5O_info_t info;
    if (H5Oget_info_by_name(group, name, &info, H5P_DEFAULT) >= 0 && info.type == H5O_TYPE_DATASET)
        static_cast<std::vector<std::string>*>(out)->push_back(name);
    return 0;
}

// Deflate packs at most ~1032 bytes into one, so a genuine dataset holds at most this many bytes per
// byte of its file; the slack admits datasets left at their fill value (stored as nothing at all).
constexpr std::uint64_t kMaxExpansion = 1100;
constexpr std::uint64_t kFillSlack = std::uint64_t(64) << 20;

// Refuses a dataset whose dims claim more data than its file could hold, before allocating for it
// (a damaged or hostile header would otherwise ask for terabytes).
void checkClaimedSize(hid_t file, const std::string& where, const Shape& s, std::uint64_t elementBytes) {
    hsize_t fileBytes = 0;
    if (H5Fget_filesize(file, &fileBytes) < 0) throw Error(where + ": cannot read the file size");
    std::uint64_t n = elementBytes;
    for (auto d : s)
        if (d < 0 || __builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n)) {
            n = UINT64_MAX;
            break;
        }
    if (n > fileBytes * kMaxExpansion + kFillSlack)
        throw Error(where + ": shape " + shapeToString(s) + " claims more data than a file of " +
                    std::to_string(fileBytes) + " bytes can hold (damaged file?)");
}

} // namespace

bool isHdf5Spec(const std::string& spec) {
    const auto colon = spec.rfind(':');
    if (colon == std::string::npos || colon + 1 >= spec.size()) return false;
    std::string file = spec.substr(0, colon);
    std::transform(file.begin(), file.end(), file.begin(), [](unsigned char c) { return std::tolower(c); });
    return file.ends_with(".h5") || file.ends_with(".hdf5") || file.ends_with(".hdf");
}

std::pair<std::filesystem::path, std::string> splitHdf5Spec(const std::string& spec) {
    if (!isHdf5Spec(spec)) throw Error(spec + ": expected FILE.h5:DATASET");
    const auto colon = spec.rfind(':');
    return {spec.substr(0, colon), spec.substr(colon + 1)};
}

Hdf5File::Hdf5File(const std::filesystem::path& path, Mode mode) : m_path(path) {
    silenceHdf5();
    const std::string p = path.string();
    std::error_code ec;
    const bool present = std::filesystem::exists(path, ec);
    if (mode == Mode::Truncate || (mode == Mode::ReadWrite && !present)) {
        m_file = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        if (m_file < 0) throw Error(p + ": cannot create HDF5 file");
        return;
    }
    if (!present) throw Error(p + ": no such file");
    if (H5Fis_hdf5(p.c_str()) <= 0) throw Error(p + ": not an HDF5 file");
    m_file = H5Fopen(p.c_str(), mode == Mode::Read ? H5F_ACC_RDONLY : H5F_ACC_RDWR, H5P_DEFAULT);
    if (m_file < 0) throw Error(p + ": cannot open HDF5 file" + (mode == Mode::Read ? "" : " for writing"));
}

Hdf5File::~Hdf5File() {
    if (m_file >= 0) H5Fclose(m_file);
}

Hdf5File::Hdf5File(Hdf5File&& other) noexcept : m_path(std::move(other.m_path)), m_file(other.m_file) {
    other.m_file = -1;
}

Hdf5File& Hdf5File::operator=(Hdf5File&& other) noexcept {
    if (this != &other) {
        if (m_file >= 0) H5Fclose(m_file);
        m_path = std::move(other.m_path);
        m_file = other.m_file;
        other.m_file = -1;
    }
    return *this;
}

std::string Hdf5File::where(const std::string& name) const { return m_path.string() + ": dataset '" + name + "'"; }

bool Hdf5File::exists(const std::string& name) const { return pathExists(m_file, normalise(name)); }

std::vector<std::string> Hdf5File::listDatasets(const std::string& group) const {
    const std::string g = normalise(group);
    if (!pathExists(m_file, g)) throw Error(m_path.string() + ": no group '" + group + "'");
    Handle h(H5Gopen2(m_file, g.c_str(), H5P_DEFAULT));
    if (!h.ok()) throw Error(m_path.string() + ": '" + group + "' is not a group");
    std::vector<std::string> names;
    H5Lvisit(h.get(), H5_INDEX_NAME, H5_ITER_INC, collectDataset, &names);
    for (auto& n : names) n = (g == "/" ? "/" : g + "/") + n;
    std::sort(names.begin(), names.end());
    return names;
}

Shape Hdf5File::shape(const std::string& dataset) const {
    const std::string d = normalise(dataset);
    if (!pathExists(m_file, d)) throw Error(where(dataset) + " does not exist");
    Handle ds(H5Dopen2(m_file, d.c_str(), H5P_DEFAULT));
    if (!ds.ok()) throw Error(where(dataset) + " is not a dataset");
    Handle space(H5Dget_space(ds.get()));
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0) throw Error(where(dataset) + ": cannot read its shape");
    std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
    H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    return Shape(dims.begin(), dims.end());
}

bool Hdf5File::isInteger(const std::string& dataset) const {
    shape(dataset); // existence check with a clear error
    Handle ds(H5Dopen2(m_file, normalise(dataset).c_str(), H5P_DEFAULT));
    Handle type(H5Dget_type(ds.get()));
    const H5T_class_t cls = H5Tget_class(type.get());
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) throw Error(where(dataset) + " is not numeric");
    return cls == H5T_INTEGER;
}

Tensor Hdf5File::read(const std::string& dataset, bool asInt) const {
    const Shape s = shape(dataset);
    Handle ds(H5Dopen2(m_file, normalise(dataset).c_str(), H5P_DEFAULT));
    Handle type(H5Dget_type(ds.get()));
    const H5T_class_t cls = H5Tget_class(type.get());
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
        throw Error(where(dataset) + " is not numeric (only integer and float datasets can be read)");
    checkClaimedSize(m_file, where(dataset), s, asInt ? 8 : 4);
    Tensor t = Tensor::zeros(asInt ? DType::I64 : DType::F32, s);
    if (t.numel() > 0 &&
        H5Dread(ds.get(), asInt ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                t.mutableBytes()) < 0)
        throw Error(where(dataset) + ": read failed (corrupt file?)");
    return t;
}

Tensor Hdf5File::readF32(const std::string& dataset) const { return read(dataset, false); }

std::vector<double> Hdf5File::readF64(const std::string& dataset, Shape* shapeOut) const {
    const Shape s = shape(dataset);
    if (shapeOut) *shapeOut = s;
    Handle ds(H5Dopen2(m_file, normalise(dataset).c_str(), H5P_DEFAULT));
    Handle type(H5Dget_type(ds.get()));
    const H5T_class_t cls = H5Tget_class(type.get());
    if (cls != H5T_INTEGER && cls != H5T_FLOAT)
        throw Error(where(dataset) + " is not numeric (only integer and float datasets can be read)");
    checkClaimedSize(m_file, where(dataset), s, 8);
    std::vector<double> values(static_cast<std::size_t>(numel(s)));
    if (!values.empty() &&
        H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
        throw Error(where(dataset) + ": read failed (corrupt file?)");
    return values;
}
Tensor Hdf5File::readI64(const std::string& dataset) const { return read(dataset, true); }

Tensor Hdf5File::readF32(const std::string& dataset, std::size_t rank) const {
    const Shape s = shape(dataset);
    if (s.size() != rank)
        throw Error(where(dataset) + ": expected rank " + std::to_string(rank) + ", found " + shapeToString(s));
    return read(dataset, false);
}

void Hdf5File::createGroup(const std::string& group) {
    const std::string g = normalise(group);
    if (g == "/" || pathExists(m_file, g)) return;
    ensureParents(m_file, g, m_path.string());
    Handle h(H5Gcreate2(m_file, g.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (!h.ok()) throw Error(m_path.string() + ": cannot create group '" + group + "'");
}

void Hdf5File::writeRaw(const std::string& dataset, const Shape& shape, const void* data, std::int64_t fileType,
                        std::int64_t memType, std::size_t elementSize) {
    const std::string d = normalise(dataset);
    if (d == "/") throw Error(m_path.string() + ": a dataset needs a name");
    ensureParents(m_file, d, m_path.string());
    if (pathExists(m_file, d) && H5Ldelete(m_file, d.c_str(), H5P_DEFAULT) < 0)
        throw Error(where(dataset) + ": cannot replace the existing object");
    std::vector<hsize_t> dims(shape.begin(), shape.end());
    Handle space(shape.empty() ? H5Screate(H5S_SCALAR)
                               : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
    Handle props(H5Pcreate(H5P_DATASET_CREATE));
    const std::int64_t n = numel(shape);
    const std::size_t bytes = static_cast<std::size_t>(n) * elementSize;
    if (!shape.empty() && n > 0 && bytes > 4096) {
        // Chunks of at most ~1 MiB: halve the leading dims until a chunk fits.
        std::vector<hsize_t> chunk = dims;
        std::size_t chunkBytes = bytes;
        for (std::size_t k = 0; k < chunk.size() && chunkBytes > (1u << 20); ++k)
            while (chunk[k] > 1 && chunkBytes > (1u << 20)) {
                const hsize_t half = (chunk[k] + 1) / 2;
                chunkBytes = chunkBytes / chunk[k] * half;
                chunk[k] = half;
            }
        H5Pset_chunk(props.get(), static_cast<int>(chunk.size()), chunk.data());
        H5Pset_deflate(props.get(), 4);
    }
    Handle ds(H5Dcreate2(m_file, d.c_str(), fileType, space.get(), H5P_DEFAULT, props.get(), H5P_DEFAULT));
    if (!ds.ok()) throw Error(where(dataset) + ": cannot create dataset");
    if (n > 0 && H5Dwrite(ds.get(), memType, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
        throw Error(where(dataset) + ": write failed (disk full?)");
}

void Hdf5File::writeF32(const std::string& dataset, const Shape& shape, const float* data) {
    writeRaw(dataset, shape, data, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, sizeof(float));
}
void Hdf5File::writeF64(const std::string& dataset, const Shape& shape, const double* data) {
    writeRaw(dataset, shape, data, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, sizeof(double));
}
void Hdf5File::writeI64(const std::string& dataset, const Shape& shape, const std::int64_t* data) {
    writeRaw(dataset, shape, data, H5T_STD_I64LE, H5T_NATIVE_INT64, sizeof(std::int64_t));
}

void Hdf5File::write(const std::string& dataset, const Tensor& t) {
    if (t.dtype() == DType::I64) return writeI64(dataset, t.shape(), t.data<std::int64_t>());
    if (t.dtype() == DType::F32) return writeF32(dataset, t.shape(), t.data<float>());
    const std::vector<float> v = t.toFloats();
    writeF32(dataset, t.shape(), v.data());
}

void Hdf5File::setAttribute(const std::string& object, const std::string& key, const std::string& value) {
    const std::string o = normalise(object);
    if (!pathExists(m_file, o)) throw Error(m_path.string() + ": no object '" + object + "' for attribute '" + key + "'");
    if (H5Aexists_by_name(m_file, o.c_str(), key.c_str(), H5P_DEFAULT) > 0)
        H5Adelete_by_name(m_file, o.c_str(), key.c_str(), H5P_DEFAULT);
    Handle type(H5Tcopy(H5T_C_S1));
    H5Tset_size(type.get(), std::max<std::size_t>(value.size(), 1));
    H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
    H5Tset_cset(type.get(), H5T_CSET_UTF8);
    Handle space(H5Screate(H5S_SCALAR));
    Handle attr(H5Acreate_by_name(m_file, o.c_str(), key.c_str(), type.get(), space.get(), H5P_DEFAULT,
                                  H5P_DEFAULT, H5P_DEFAULT));
    const char nul = 0;
    if (!attr.ok() || H5Awrite(attr.get(), type.get(), value.empty() ? &nul : value.data()) < 0)
        throw Error(m_path.string() + ": cannot write attribute '" + key + "' of '" + object + "'");
}

std::optional<std::string> Hdf5File::attribute(const std::string& object, const std::string& key) const {
    const std::string o = normalise(object);
    if (!pathExists(m_file, o) || H5Aexists_by_name(m_file, o.c_str(), key.c_str(), H5P_DEFAULT) <= 0)
        return std::nullopt;
    Handle attr(H5Aopen_by_name(m_file, o.c_str(), key.c_str(), H5P_DEFAULT, H5P_DEFAULT));
    Handle type(H5Aget_type(attr.get()));
    if (H5Tget_class(type.get()) != H5T_STRING)
        throw Error(m_path.string() + ": attribute '" + key + "' of '" + object + "' is not a string");
    if (H5Tis_variable_str(type.get()) > 0) {
        // Written by h5py and others: a variable-length string.
        Handle mem(H5Tcopy(H5T_C_S1));
        H5Tset_size(mem.get(), H5T_VARIABLE);
        char* s = nullptr;
        if (H5Aread(attr.get(), mem.get(), &s) < 0 || !s)
            throw Error(m_path.string() + ": cannot read attribute '" + key + "'");
        std::string r(s);
        H5free_memory(s);
        return r;
    }
    const std::size_t size = H5Tget_size(type.get());
    std::string r(size, '\0');
    if (H5Aread(attr.get(), type.get(), r.data()) < 0)
        throw Error(m_path.string() + ": cannot read attribute '" + key + "'");
    r.resize(std::char_traits<char>::length(r.c_str())); // drop null padding
    return r;
}

void Hdf5File::flush() { H5Fflush(m_file, H5F_SCOPE_GLOBAL); }

} // namespace qs::core
