#!/usr/bin/env python3
"""Print the HDF5 structure of a netCDF-4 file (no data): superblock, datasets (dtype with byte
order, shape, maxshape, chunks, filters, fill value, layout), attributes (name, HDF5 type: fixed or
variable-length string and its charset, numeric dtype, dataspace shape, value), attributes sorted by name
(--storage-order: as stored).

Used to check that tools/gen_goes_avg1m.py writes the layout of the real GOES-16 sample:
    python3 tools/h5_structure.py --rows-as N sample.nc > a.txt
    python3 tools/h5_structure.py --rows-as N generated.nc > b.txt && diff a.txt b.txt
`--rows-as N` prints the time dimension's length as N (and hides data-dependent attribute values
with --no-values) so files with different row counts compare equal.

Requires h5py and numpy.
"""
import argparse
import sys

import h5py
import numpy as np

# Attribute values that depend on the data, not on the layout (hidden by --no-values).
DATA_DEPENDENT = {
    "id", "date_created", "time_coverage_start", "time_coverage_end", "platform",
    "input_files_first", "input_files_last", "instrument_id", "orbital_slot",
    "processing_parameters_file", "history",
}


def attr_type(attrs, name):
    aid = attrs.get_id(name)
    t = aid.get_type()
    space = aid.get_space()
    shape = space.shape if space.get_simple_extent_type() == h5py.h5s.SIMPLE else "scalar"
    if isinstance(t, h5py.h5t.TypeStringID):
        kind = "vlen-str" if t.is_variable_str() else f"fixed-str[{t.get_size()}]"
        cset = "utf8" if t.get_cset() == h5py.h5t.CSET_UTF8 else "ascii"
        pad = t.get_strpad()
        return f"{kind} {cset} pad={pad} space={shape}"
    if isinstance(t, h5py.h5t.TypeReferenceID) or t.get_class() == h5py.h5t.VLEN:
        return f"class={t.get_class()} space={shape}"
    return f"{attrs[name].dtype.str if hasattr(attrs[name], 'dtype') else type(attrs[name])} space={shape}"


def fmt_value(name, value, args):
    if name in ("DIMENSION_LIST", "REFERENCE_LIST"):
        return "<references>"
    if args.no_values and name in DATA_DEPENDENT:
        return "<data-dependent>"
    if isinstance(value, np.ndarray):
        return repr(value.tolist())
    return repr(value)


def attr_names(obj, storage_order):
    if not storage_order:
        return sorted(obj.attrs.keys())
    # Storage order: creation order, reshuffled where libhdf5 reused free object-header space.
    names = []
    h5py.h5a.iterate(obj.id, lambda n: names.append(n.decode()),
                     index_type=h5py.h5.INDEX_NAME, order=h5py.h5.ITER_NATIVE)
    return names


def show_attrs(obj, indent, args, out):
    for name in attr_names(obj, args.storage_order):
        out.write(f"{indent}@{name}: {attr_type(obj.attrs, name)} = "
                  f"{fmt_value(name, obj.attrs[name], args)}\n")


def dims(shape, args, time_len):
    if args.rows_as is None:
        return shape
    return tuple(args.rows_as if (i == 0 and s == time_len) else s for i, s in enumerate(shape))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file")
    p.add_argument("--rows-as", type=int, help="print the time dimension length (and chunk) as N")
    p.add_argument("--no-values", action="store_true", help="hide data-dependent global attribute values")
    p.add_argument("--storage-order", action="store_true",
                   help="list attributes in storage order instead of by name")
    args = p.parse_args()
    out = sys.stdout
    with h5py.File(args.file, "r") as f:
        time_len = f["time"].shape[0] if "time" in f else None
        fcpl = f.id.get_create_plist()
        out.write(f"superblock version={fcpl.get_version()} sizes={fcpl.get_sizes()} "
                  f"userblock={fcpl.get_userblock()} libver={f.libver}\n")
        out.write(f"root link-creation-order={f.id.get_create_plist().get_link_creation_order()}\n")
        show_attrs(f, "  ", args, out)
        for name, ds in f.items():
            if not isinstance(ds, h5py.Dataset):
                out.write(f"GROUP {name}\n")
                continue
            dcpl = ds.id.get_create_plist()
            chunks = ds.chunks
            if chunks is not None and args.rows_as is not None and ds.shape and chunks[0] == time_len:
                chunks = (args.rows_as,) + tuple(chunks[1:])
            out.write(
                f"DATASET {name} dtype={ds.dtype.str} shape={dims(ds.shape, args, time_len)} "
                f"maxshape={ds.maxshape} layout={dcpl.get_layout()} chunks={chunks} "
                f"compression={ds.compression} opts={ds.compression_opts} shuffle={ds.shuffle} "
                f"fletcher32={ds.fletcher32} fill={ds.fillvalue!r} fill_time={dcpl.get_fill_time()} "
                f"alloc_time={dcpl.get_alloc_time()} attr-creation-order={dcpl.get_attr_creation_order()}\n")
            show_attrs(ds, "    ", args, out)


if __name__ == "__main__":
    main()
