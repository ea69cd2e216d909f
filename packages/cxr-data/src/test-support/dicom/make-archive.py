"""A small PACS-like export of DICOM radiographs made from real Kermany images, for end-to-end runs.

Run by the tests (never copied into the repo): /usr/bin/python3 make-archive.py OUT_DIR KERMANY_DIR PER_CLASS SIZE
Takes the first PER_CLASS NORMAL and PER_CLASS PNEUMONIA images of Kermany's train/ (patients as Kermany's file
names give them), resized to SIZE x SIZE, and writes them under OUT_DIR in nested folders with PACS-like names,
cycling through transfer syntaxes (explicit, implicit, deflated, RLE, JPEG baseline, JPEG lossless, JPEG-LS,
JPEG 2000), bits stored (8, 10, 12, 16, signed 16) and MONOCHROME1 / MONOCHROME2; then OUT_DIR/labels.csv
(path,Pneumonia), a structured report, a CT slice, a lateral view and a text file that a loader must skip,
and OUT_DIR.secrets.json beside it listing every PatientID and PatientName written (for the privacy checks).
Needs Debian's python3-pydicom, python3-numpy, python3-pil and dcmtk.
"""
import io, json, os, re, subprocess, sys
import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid
from PIL import Image

out_dir, kermany, per_class, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
os.makedirs(out_dir, exist_ok=True)
PATIENT = re.compile(r'^(person\d+)_|^((?:NORMAL2-)?IM-\d+)-')


def write(path, img, bits, signed, photo, pid, name, study, view='PA', modality='DX', extra=None):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.1.1'
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(path, {}, file_meta=meta, preamble=b'\0' * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = name, pid, study, generate_uid()
    ds.Modality, ds.ViewPosition = modality, view
    ds.Rows, ds.Columns = img.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photo
    ds.BitsAllocated = 8 if bits <= 8 else 16
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits - 1, 1 if signed else 0
    for k, v in (extra or {}).items():
        setattr(ds, k, v)
    dtype = {(8, False): np.uint8, (16, False): np.uint16, (16, True): np.int16}[(ds.BitsAllocated, signed)]
    ds.PixelData = img.astype(dtype).tobytes()
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(path, write_like_original=False)


def j2k(path):
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    im = Image.fromarray(arr.astype(np.uint8), 'L') if ds.BitsAllocated == 8 else Image.fromarray(arr.astype(np.uint16), 'I;16')
    b = io.BytesIO()
    im.save(b, format='JPEG2000', no_jp2=True, irreversible=False)
    ds.PixelData = encapsulate([b.getvalue()])
    ds['PixelData'].VR = 'OB'
    ds['PixelData'].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.save_as(path, write_like_original=False)


def convert(path, *tool):
    tmp = path + '.tmp'
    subprocess.run([*tool, path, tmp], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.replace(tmp, path)


# (bits, signed, photometric, stored values from 8-bit grey g, extra tags, transfer syntax step)
VARIANTS = [
    (8, False, 'MONOCHROME2', lambda g: g, {}, None),
    (12, False, 'MONOCHROME2', lambda g: g * 16 + 5, {'WindowCenter': 2048, 'WindowWidth': 4000}, ('dcmcjpls',)),
    (16, False, 'MONOCHROME1', lambda g: 65535 - g * 257, {}, ('dcmcrle',)),
    (16, True, 'MONOCHROME2', lambda g: g * 10 - 1200, {'RescaleSlope': 1, 'RescaleIntercept': -24}, ('dcmconv', '+td')),
    (8, False, 'MONOCHROME2', lambda g: g, {}, ('dcmcjpeg', '+eb')),
    (12, False, 'MONOCHROME2', lambda g: g * 16, {}, 'j2k'),
    (10, False, 'MONOCHROME2', lambda g: g * 4, {}, ('dcmcjpeg', '+e1')),
    (16, False, 'MONOCHROME1', lambda g: 60000 - g * 200, {'WindowCenter': 40000, 'WindowWidth': 52000}, ('dcmconv', '+ti')),
]

rows, secrets_ids, secrets_names = [], set(), set()
files = []
for cls in ['NORMAL', 'PNEUMONIA']:
    names = sorted(os.listdir(os.path.join(kermany, 'train', cls)))[:per_class]
    files += [(cls, n) for n in names]
studies = {}
for i, (cls, fname) in enumerate(files):
    m = PATIENT.match(fname)
    kermany_patient = next(g for g in m.groups() if g)
    pid = 'MRN-SECRET-' + kermany_patient
    name = 'Secret^Patient^' + kermany_patient.replace('-', '')
    secrets_ids.add(pid)
    secrets_names.add(name)
    # One study per patient: patients with two images have a two-image study (scored at study level).
    study = studies.setdefault(kermany_patient, generate_uid())
    g = np.asarray(Image.open(os.path.join(kermany, 'train', cls, fname)).convert('L').resize((size, size), Image.BILINEAR)).astype(np.int64)
    bits, signed, photo, values, extra, step = VARIANTS[i % len(VARIANTS)]
    rel = f'{2020 + i % 3}/study{i:03d}/IM{i:05d}' + ('.dcm' if i % 2 else '')
    path = os.path.join(out_dir, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write(path, values(g), bits, signed, photo, pid, name, study, view='AP' if i % 5 == 0 else 'PA', modality='CR' if i % 4 == 0 else 'DX', extra=extra)
    if step == 'j2k':
        j2k(path)
    elif step:
        convert(path, *step)
    rows.append((rel, 1 if cls == 'PNEUMONIA' else 0))

# What a PACS export also holds, and a loader must name and skip.
g = np.asarray(Image.open(os.path.join(kermany, 'train', files[0][0], files[0][1])).convert('L').resize((size, size))).astype(np.int64)
os.makedirs(os.path.join(out_dir, 'other'), exist_ok=True)
write(os.path.join(out_dir, 'other', 'lateral.dcm'), g, 8, False, 'MONOCHROME2', 'MRN-SECRET-lateral', 'Secret^Lateral', generate_uid(), view='LL')
write(os.path.join(out_dir, 'other', 'ct.dcm'), g * 4 - 1024, 16, True, 'MONOCHROME2', 'MRN-SECRET-ct', 'Secret^Ct', generate_uid(), modality='CT')
sr = pydicom.dcmread(os.path.join(out_dir, 'other', 'lateral.dcm'))
del sr.PixelData
sr.SOPClassUID = sr.file_meta.MediaStorageSOPClassUID = '1.2.840.10008.5.1.4.1.1.88.11'
sr.Modality = 'SR'
sr.save_as(os.path.join(out_dir, 'other', 'report.dcm'), write_like_original=False)
with open(os.path.join(out_dir, 'export-notes.txt'), 'w') as f:
    f.write('exported for research\n')
secrets_ids |= {'MRN-SECRET-lateral', 'MRN-SECRET-ct'}
secrets_names |= {'Secret^Lateral', 'Secret^Ct'}
with open(os.path.join(out_dir, 'labels.csv'), 'w') as f:
    f.write('path,Pneumonia\n' + ''.join(f'{p},{y}\n' for p, y in rows))
with open(out_dir.rstrip('/') + '.secrets.json', 'w') as f:
    json.dump({'patientIds': sorted(secrets_ids), 'patientNames': sorted(secrets_names)}, f)
print(len(rows), 'radiographs in', out_dir, file=sys.stderr)
