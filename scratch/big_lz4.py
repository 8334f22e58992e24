import json, base64, io, sys, pandas as pd, pyarrow.feather as f
src, dst, comp = sys.argv[1], sys.argv[2], sys.argv[3]
blob = json.loads(open(src,'rb').read())
df = pd.read_feather(io.BytesIO(base64.decodebytes(blob["data"].encode())))
print(df.shape, df.dtypes.value_counts().to_dict())
buf = io.BytesIO(); df.to_feather(buf, compression=comp)
open(dst,'w').write('{"serializer": {"type": "pandas_feather"}, "data": ' + json.dumps(base64.encodebytes(buf.getvalue()).decode()) + ', "prefect_version": "2.20.3"}')
