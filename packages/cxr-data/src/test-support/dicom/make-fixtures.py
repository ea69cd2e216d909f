"""DICOM radiographs of every transfer syntax and bit depth, built from real Kermany images, with pydicom's grey reference.

Run by the tests (never copied into the repo): /usr/bin/python3 make-fixtures.py OUT_DIR KERMANY_DIR [--labels]
Needs Debian's python3-pydicom, python3-numpy, python3-pil, python3-gdcm (pydicom's decoder for JPEG lossless,
JPEG-LS and 12-bit JPEG) and dcmtk (dcmconv, dcmcrle, dcmcjpeg, dcmcjpls, img2dcm).

Writes OUT_DIR/<name>.dcm, OUT_DIR/<name>.ref (64 x 64 uint8: pydicom's pixel_array, apply_modality_lut,
apply_voi_lut, min-max to 0-255, MONOCHROME1 inverted) and OUT_DIR/manifest.json.
"""
import io, json, os, subprocess, sys
import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset, Dataset
from pydicom.encaps import encapsulate
from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi_lut
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000, JPEG2000Lossless, generate_uid
from PIL import Image

out_dir, kermany = sys.argv[1], sys.argv[2]
os.makedirs(out_dir, exist_ok=True)
SIZE = 64
# Three patients, two of them with two images (person1000's bacteria and virus images).
SOURCES = [
    ('train/NORMAL/IM-0115-0001.jpeg', 'NORMAL'),
    ('train/PNEUMONIA/person1000_bacteria_2931.jpeg', 'PNEUMONIA'),
    ('train/PNEUMONIA/person1000_virus_1681.jpeg', 'PNEUMONIA'),
    ('test/PNEUMONIA/person100_bacteria_475.jpeg', 'PNEUMONIA'),
]
grey = [np.asarray(Image.open(os.path.join(kermany, p)).convert('L').resize((SIZE, SIZE), Image.BILINEAR)).astype(np.int64) for p, _ in SOURCES]
PATIENTS = ['MRN-SECRET-0115', 'MRN-SECRET-1000', 'MRN-SECRET-1000', 'MRN-SECRET-0100']
NAMES = ['Fixture^Alice^Secret', 'Fixture^Bob^Secret', 'Fixture^Bob^Secret', 'Fixture^Carol^Secret']
STUDIES = [generate_uid() for _ in SOURCES]


def base(path, img, bits, signed=False, photo='MONOCHROME2', extra=None, src=0, view='PA', modality='DX'):
    """An explicit VR little endian radiograph of `img` (already scaled to its stored values)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.1.1'  # Digital X-Ray Image Storage - For Presentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(path, {}, file_meta=meta, preamble=b'\0' * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = NAMES[src]
    ds.PatientID = PATIENTS[src]
    ds.StudyInstanceUID = STUDIES[src]
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.ViewPosition = view
    ds.Rows, ds.Columns = img.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photo
    ds.BitsAllocated = 8 if bits <= 8 else 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 1 if signed else 0
    for k, v in (extra or {}).items():
        setattr(ds, k, v)
    dtype = {(8, False): np.uint8, (8, True): np.int8, (16, False): np.uint16, (16, True): np.int16}[(ds.BitsAllocated, signed)]
    ds.PixelData = img.astype(dtype).tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(path, write_like_original=False)


def voi_lut_seq(bits):
    """A VOI LUT sequence: a 16-bit gamma curve over the stored range."""
    n = 2 ** bits
    item = Dataset()
    item.LUTDescriptor = [n, 0, 16]
    item.LUTData = [int(round(65535 * (i / (n - 1)) ** 0.6)) for i in range(n)]
    item['LUTData'].VR = 'US'
    return Sequence([item])


def j2k(src, dst, lossless):
    """JPEG 2000 through Pillow's OpenJPEG, wrapped by pydicom (dcmtk has no JPEG 2000 codec)."""
    ds = pydicom.dcmread(src)
    arr = ds.pixel_array
    im = Image.fromarray(arr.astype(np.uint8), 'L') if ds.BitsAllocated == 8 else Image.fromarray(arr.astype(np.uint16), 'I;16')
    b = io.BytesIO()
    im.save(b, format='JPEG2000', no_jp2=True, irreversible=not lossless, **({} if lossless else {'quality_mode': 'rates', 'quality_layers': [8]}))
    ds.PixelData = encapsulate([b.getvalue()])
    ds['PixelData'].VR = 'OB'
    ds['PixelData'].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless if lossless else JPEG2000
    ds.save_as(dst, write_like_original=False)


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


g = grey
made = []
def add(name, note, lossy=False):
    made.append({'name': name, 'note': note, 'lossy': lossy})

P = lambda n: os.path.join(out_dir, n + '.dcm')
# Base images: 8 to 16 bits stored, signed or not, both photometric interpretations, rescale, windows, a VOI LUT.
base(P('u8'), g[0], 8, src=0); add('u8', '8-bit, no VOI')
base(P('u12-window'), g[1] * 16 + 7, 12, extra={'RescaleSlope': 1, 'RescaleIntercept': 0, 'WindowCenter': 2100, 'WindowWidth': 2600}, src=1); add('u12-window', '12-bit, window')
base(P('u16-mono1'), 65535 - g[2] * 257, 16, photo='MONOCHROME1', src=2, view='AP'); add('u16-mono1', '16-bit MONOCHROME1')
base(P('s16-rescale'), g[3] * 12 - 1500, 16, signed=True, extra={'RescaleSlope': 0.5, 'RescaleIntercept': -100, 'WindowCenter': 0, 'WindowWidth': 1200, 'VOILUTFunction': 'LINEAR_EXACT'}, src=3); add('s16-rescale', 'signed 16-bit, rescale, LINEAR_EXACT window')
base(P('s12'), g[0] * 8 - 1024, 12, signed=True, src=0); add('s12', 'signed 12 bits in 16')
base(P('u10-voilut'), g[1] * 4 + 1, 10, extra={'VOILUTSequence': voi_lut_seq(10), 'WindowCenter': 1, 'WindowWidth': 2}, src=1); add('u10-voilut', '10-bit, VOI LUT sequence (preferred over its window)')
base(P('u12-sigmoid'), g[2] * 16, 12, photo='MONOCHROME1', extra={'WindowCenter': 1800, 'WindowWidth': 1500, 'VOILUTFunction': 'SIGMOID'}, src=2, view='AP'); add('u12-sigmoid', '12-bit MONOCHROME1, SIGMOID window')
base(P('u8-mono1-window'), 255 - g[3], 8, photo='MONOCHROME1', extra={'WindowCenter': '128\\100', 'WindowWidth': '200\\50'}, src=3); add('u8-mono1-window', '8-bit MONOCHROME1, first of two windows')

# The same pixels in every transfer syntax.
run('dcmconv', '+ti', P('u12-window'), P('u12-window.implicit')); add('u12-window.implicit', 'implicit VR little endian')
run('dcmconv', '+td', P('s16-rescale'), P('s16-rescale.deflated')); add('s16-rescale.deflated', 'deflated explicit VR little endian')
run('dcmconv', '+tb', P('u16-mono1'), P('u16-mono1.bigendian')); add('u16-mono1.bigendian', 'explicit VR big endian')
for n in ['u8', 'u16-mono1', 's16-rescale', 'u12-sigmoid']:
    run('dcmcrle', P(n), P(n + '.rle')); add(n + '.rle', 'RLE lossless')
for n in ['u8', 'u8-mono1-window']:
    run('dcmcjpeg', '+eb', P(n), P(n + '.jpeg-baseline')); add(n + '.jpeg-baseline', 'JPEG baseline', lossy=True)
run('dcmcjpeg', '+ee', P('u8'), P('u8.jpeg-extended')); add('u8.jpeg-extended', 'JPEG extended, 8-bit', lossy=True)
run('dcmcjpeg', '+ee', P('u12-window'), P('u12-window.jpeg-extended')); add('u12-window.jpeg-extended', 'JPEG extended, 12-bit', lossy=True)
for n in ['u8', 'u12-window', 'u16-mono1', 'u10-voilut']:
    run('dcmcjpeg', '+e1', P(n), P(n + '.jpeg-lossless-sv1')); add(n + '.jpeg-lossless-sv1', 'JPEG lossless SV1')
run('dcmcjpeg', '+el', P('u12-sigmoid'), P('u12-sigmoid.jpeg-lossless')); add('u12-sigmoid.jpeg-lossless', 'JPEG lossless (process 14)')
for n in ['u8', 'u12-window', 'u16-mono1', 'u12-sigmoid']:
    run('dcmcjpls', P(n), P(n + '.jpeg-ls')); add(n + '.jpeg-ls', 'JPEG-LS lossless')
run('dcmcjpls', '+en', '+md', '2', P('u12-window'), P('u12-window.jpeg-ls-near')); add('u12-window.jpeg-ls-near', 'JPEG-LS near-lossless', lossy=True)
for n in ['u8', 'u12-window', 'u16-mono1']:
    j2k(P(n), P(n + '.j2k'), True); add(n + '.j2k', 'JPEG 2000 lossless')
j2k(P('u12-sigmoid'), P('u12-sigmoid.j2k-lossy'), False); add('u12-sigmoid.j2k-lossy', 'JPEG 2000 lossy', lossy=True)
# img2dcm wraps a JPEG file as it is: the Kermany JPEG, resized, as a secondary-capture-free CR image.
Image.fromarray(g[2].astype(np.uint8), 'L').save(os.path.join(out_dir, 'k.jpg'), quality=90)
run('img2dcm', '-i', 'JPEG', os.path.join(out_dir, 'k.jpg'), P('img2dcm'), '-k', 'Modality=CR', '-k', 'PatientID=' + PATIENTS[2], '-k', 'PatientName=' + NAMES[2], '-k', 'ViewPosition=PA')
os.remove(os.path.join(out_dir, 'k.jpg')); add('img2dcm', 'img2dcm of a JPEG (baseline)', lossy=True)


# Objects the folder loader must name and skip: a structured report (no pixels), a CT slice, a lateral view.
os.makedirs(os.path.join(out_dir, 'extras'), exist_ok=True)
E = lambda n: os.path.join(out_dir, 'extras', n + '.dcm')
base(E('lateral'), g[0], 8, src=0, view='LL')
base(E('ct'), g[1] * 4 - 1024, 16, signed=True, src=1, modality='CT')
sr = pydicom.dcmread(P('u8'))
del sr.PixelData
sr.SOPClassUID = sr.file_meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.88.11'  # Basic Text SR
sr.Modality = 'SR'
for k in ['Rows', 'Columns', 'BitsAllocated', 'BitsStored', 'HighBit', 'PixelRepresentation', 'SamplesPerPixel', 'PhotometricInterpretation']:
    delattr(sr, k)
sr.save_as(E('report'), write_like_original=False)


def reference(path):
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    arr = apply_modality_lut(arr, ds)
    if ds.get('VOILUTSequence') and arr.dtype.kind == 'f':
        arr = arr.astype(np.int64)
    arr = apply_voi_lut(arr, ds).astype(np.float64)
    lo, hi = arr.min(), arr.max()
    arr = (arr - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(arr)
    if ds.PhotometricInterpretation == 'MONOCHROME1':
        arr = 255 - arr
    return np.clip(np.round(arr), 0, 255).astype(np.uint8), ds


for m in made:
    ref, ds = reference(P(m['name']))
    ref.tofile(os.path.join(out_dir, m['name'] + '.ref'))
    m.update({'transferSyntax': str(ds.file_meta.TransferSyntaxUID), 'bitsStored': int(ds.BitsStored), 'signed': int(ds.PixelRepresentation) == 1,
              'photometric': str(ds.PhotometricInterpretation), 'width': int(ds.Columns), 'height': int(ds.Rows)})
with open(os.path.join(out_dir, 'manifest.json'), 'w') as f:
    json.dump({'pydicom': pydicom.__version__, 'size': SIZE, 'files': made, 'patientIds': sorted(set(PATIENTS)), 'patientNames': sorted(set(NAMES)),
               'sources': [p for p, _ in SOURCES], 'classes': [c for _, c in SOURCES]}, f, indent=1)
print(len(made), 'fixtures in', out_dir, file=sys.stderr)
