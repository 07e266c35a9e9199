"""The operations a SavedModel's graph may use: pure tensor, NN and control-flow ops.

An allow-list, by the TensorFlow op-definition module each op comes from (the
generated ``tensorflow/python/ops/gen_*_ops.py`` of TensorFlow 2.21). Whole
modules of pure computation are listed; from the others only what computes on
tensors in memory. Left out on purpose, because running them reaches outside
the process or stops it: every file, reader, checkpoint and dataset op
(``gen_io_ops``, ``gen_dataset_ops``, ``gen_checkpoint_ops``), Python callbacks
(``gen_script_ops``: PyFunc, EagerPyFunc), queues, staging areas, barriers and
session tensors (``gen_data_flow_ops`` keeps only TensorArray, Stack and
dynamic partition/stitch), ``Print``/``PrintV2`` and summaries (they write to
streams or files), ``ImmutableConst`` (maps a file by name), ``Abort`` (ends
the process), ``RemoteCall``, collective/NCCL/send/receive/TPU ops,
``InitializeTableFromTextFile`` (reads a file), candidate samplers (one reads
a vocabulary file), proto decoding (reads descriptor files) and debug ops.

The saver's ops (SAVE_OPS, RESTORE_OPS) are allowed only where TensorFlow's
saver owns them (services.graphcheck). An op missing here that a real model
needs is added after reading what it does, never by pattern.
"""

ALLOWED_BY_MODULE = {
    "array": """
        BatchMatrixBandPart BatchMatrixDiag BatchMatrixDiagPart BatchMatrixSetDiag
        BatchToSpace BatchToSpaceND Bitcast BroadcastArgs BroadcastGradientArgs BroadcastTo
        CheckNumerics CheckNumericsV2 Concat ConcatOffset ConcatV2 ConjugateTranspose Const
        DebugGradientIdentity DebugGradientRefIdentity DeepCopy DepthToSpace Dequantize Diag
        DiagPart EditDistance Empty EnsureShape ExpandDims ExtractImagePatches
        ExtractVolumePatches FakeQuantWithMinMaxArgs FakeQuantWithMinMaxArgsGradient
        FakeQuantWithMinMaxVars FakeQuantWithMinMaxVarsGradient
        FakeQuantWithMinMaxVarsPerChannel FakeQuantWithMinMaxVarsPerChannelGradient Fill
        Fingerprint Gather GatherNd GatherV2 GuaranteeConst Identity IdentityN InplaceAdd
        InplaceSub InplaceUpdate InvertPermutation ListDiff LowerBound MatrixBandPart
        MatrixDiag MatrixDiagPart MatrixDiagPartV2 MatrixDiagPartV3 MatrixDiagV2
        MatrixDiagV3 MatrixSetDiag MatrixSetDiagV2 MatrixSetDiagV3 MirrorPad MirrorPadGrad
        OneHot OnesLike Pack Pad PadV2 ParallelConcat Placeholder PlaceholderV2
        PlaceholderWithDefault PreventGradient QuantizeAndDequantize QuantizeAndDequantizeV2
        QuantizeAndDequantizeV3 QuantizeAndDequantizeV4 QuantizeAndDequantizeV4Grad
        QuantizeV2 QuantizedConcat QuantizedInstanceNorm QuantizedReshape Rank RefIdentity
        Reshape ResourceStridedSliceAssign Reverse ReverseSequence ReverseV2 ScatterNd
        ScatterNdNonAliasingAdd Shape ShapeN Size Slice Snapshot SpaceToBatch SpaceToBatchND
        SpaceToDepth Split SplitV Squeeze StopGradient StridedSlice StridedSliceAssign
        StridedSliceGrad TensorScatterAdd TensorScatterMax TensorScatterMin TensorScatterSub
        TensorScatterUpdate TensorStridedSliceUpdate Tile TileGrad Transpose Unique UniqueV2
        UniqueWithCounts UniqueWithCountsV2 Unpack UnravelIndex UpperBound Where ZerosLike""",
    "math": """
        Abs AccumulateNV2 Acos Acosh Add AddN AddV2 All Angle Any ApproximateEqual ArgMax
        ArgMin Asin Asinh Atan Atan2 Atanh BatchMatMul BatchMatMulV2 BatchMatMulV3 Betainc
        Bincount Bucketize Cast Ceil ClipByValue Complex ComplexAbs Conj Cos Cosh Cross
        Cumprod Cumsum CumulativeLogsumexp DenseBincount Digamma Div DivNoNan Equal Erf Erfc
        Erfinv EuclideanNorm Exp Expm1 Floor FloorDiv FloorMod Greater GreaterEqual
        HistogramFixedWidth Igamma IgammaGradA Igammac Imag Inv InvGrad IsFinite IsInf IsNan
        Less LessEqual Lgamma LinSpace Log Log1p LogicalAnd LogicalNot LogicalOr MatMul Max
        Maximum Mean Min Minimum Mod Mul MulNoNan Ndtri Neg NextAfter NotEqual Polygamma Pow
        Prod QuantizeDownAndShrinkRange QuantizedAdd QuantizedMatMul QuantizedMul
        RaggedBincount Range Real RealDiv Reciprocal ReciprocalGrad RequantizationRange
        RequantizationRangePerChannel Requantize RequantizePerChannel Rint Round Rsqrt
        RsqrtGrad SegmentMax SegmentMaxV2 SegmentMean SegmentMin SegmentMinV2 SegmentProd
        SegmentProdV2 SegmentSum SegmentSumV2 Select SelectV2 Sigmoid SigmoidGrad Sign Sin
        Sinh SobolSample SparseBincount SparseMatMul SparseSegmentMean SparseSegmentMeanGrad
        SparseSegmentMeanGradV2 SparseSegmentMeanWithNumSegments SparseSegmentSqrtN
        SparseSegmentSqrtNGrad SparseSegmentSqrtNGradV2 SparseSegmentSqrtNWithNumSegments
        SparseSegmentSum SparseSegmentSumGrad SparseSegmentSumGradV2
        SparseSegmentSumWithNumSegments Sqrt SqrtGrad Square SquaredDifference Sub Sum Tan
        Tanh TanhGrad TruncateDiv TruncateMod UnsortedSegmentMax UnsortedSegmentMin
        UnsortedSegmentProd UnsortedSegmentSum Xdivy Xlog1py Xlogy Zeta""",
    "nn": """
        ApproxTopK AvgPool AvgPool3D AvgPool3DGrad AvgPoolGrad
        BatchNormWithGlobalNormalization BatchNormWithGlobalNormalizationGrad BiasAdd
        BiasAddGrad BiasAddV1 Conv Conv2D Conv2DBackpropFilter Conv2DBackpropFilterV2
        Conv2DBackpropInput Conv2DBackpropInputV2 Conv3D Conv3DBackpropFilter
        Conv3DBackpropFilterV2 Conv3DBackpropInput Conv3DBackpropInputV2 DataFormatDimMap
        DataFormatVecPermute DepthwiseConv2dNative DepthwiseConv2dNativeBackpropFilter
        DepthwiseConv2dNativeBackpropInput Dilation2D Dilation2DBackpropFilter
        Dilation2DBackpropInput Elu EluGrad FractionalAvgPool FractionalAvgPoolGrad
        FractionalMaxPool FractionalMaxPoolGrad FusedBatchNorm FusedBatchNormGrad
        FusedBatchNormGradV2 FusedBatchNormGradV3 FusedBatchNormV2 FusedBatchNormV3
        FusedPadConv2D FusedResizeAndPadConv2D InTopK InTopKV2 IsotonicRegression L2Loss LRN
        LRNGrad LeakyRelu LeakyReluGrad LogSoftmax MaxPool MaxPool3D MaxPool3DGrad
        MaxPool3DGradGrad MaxPoolGrad MaxPoolGradGrad MaxPoolGradGradV2
        MaxPoolGradGradWithArgmax MaxPoolGradV2 MaxPoolGradWithArgmax MaxPoolV2
        MaxPoolWithArgmax NthElement QuantizedAvgPool
        QuantizedBatchNormWithGlobalNormalization QuantizedBiasAdd QuantizedConv2D
        QuantizedConv2DAndRelu QuantizedConv2DAndReluAndRequantize
        QuantizedConv2DAndRequantize QuantizedConv2DPerChannel QuantizedConv2DWithBias
        QuantizedConv2DWithBiasAndRelu QuantizedConv2DWithBiasAndReluAndRequantize
        QuantizedConv2DWithBiasAndRequantize
        QuantizedConv2DWithBiasSignedSumAndReluAndRequantize
        QuantizedConv2DWithBiasSumAndRelu QuantizedConv2DWithBiasSumAndReluAndRequantize
        QuantizedDepthwiseConv2D QuantizedDepthwiseConv2DWithBias
        QuantizedDepthwiseConv2DWithBiasAndRelu
        QuantizedDepthwiseConv2DWithBiasAndReluAndRequantize QuantizedMatMulWithBias
        QuantizedMatMulWithBiasAndDequantize QuantizedMatMulWithBiasAndRelu
        QuantizedMatMulWithBiasAndReluAndRequantize QuantizedMatMulWithBiasAndRequantize
        QuantizedMaxPool QuantizedRelu QuantizedRelu6 QuantizedReluX Relu Relu6 Relu6Grad
        ReluGrad Selu SeluGrad Softmax SoftmaxCrossEntropyWithLogits Softplus SoftplusGrad
        Softsign SoftsignGrad SparseSoftmaxCrossEntropyWithLogits TopK TopKV2""",
    "image": """
        AdjustContrast AdjustContrastv2 AdjustHue AdjustSaturation CombinedNonMaxSuppression
        CropAndResize CropAndResizeGradBoxes CropAndResizeGradImage DecodeAndCropJpeg
        DecodeBmp DecodeGif DecodeImage DecodeJpeg DecodeJxl DecodePng DecodeWebP
        DrawBoundingBoxes DrawBoundingBoxesV2 EncodeJpeg EncodeJpegVariableQuality EncodePng
        ExtractGlimpse ExtractGlimpseV2 ExtractJpegShape GenerateBoundingBoxProposals
        HSVToRGB ImageProjectiveTransformV2 ImageProjectiveTransformV3 NonMaxSuppression
        NonMaxSuppressionV2 NonMaxSuppressionV3 NonMaxSuppressionV4 NonMaxSuppressionV5
        NonMaxSuppressionWithOverlaps QuantizedResizeBilinear RGBToHSV RandomCrop ResizeArea
        ResizeBicubic ResizeBicubicGrad ResizeBilinear ResizeBilinearGrad
        ResizeNearestNeighbor ResizeNearestNeighborGrad SampleDistortedBoundingBox
        SampleDistortedBoundingBoxV2 ScaleAndTranslate ScaleAndTranslateGrad
        StatelessSampleDistortedBoundingBox""",
    "linalg": """
        BandedTriangularSolve BatchCholesky BatchCholeskyGrad BatchMatrixDeterminant
        BatchMatrixInverse BatchMatrixSolve BatchMatrixSolveLs BatchMatrixTriangularSolve
        BatchSelfAdjointEig BatchSelfAdjointEigV2 BatchSvd Cholesky CholeskyGrad Eig Einsum
        LogMatrixDeterminant Lu MatrixDeterminant MatrixExponential MatrixInverse
        MatrixLogarithm MatrixSolve MatrixSolveLs MatrixSquareRoot MatrixTriangularSolve Qr
        SelfAdjointEig SelfAdjointEigV2 Svd TridiagonalMatMul TridiagonalSolve""",
    "bitwise": """
        BitwiseAnd BitwiseOr BitwiseXor Invert LeftShift PopulationCount RightShift""",
    "special_math": """
        BesselI0 BesselI0e BesselI1 BesselI1e BesselJ0 BesselJ1 BesselK0 BesselK0e BesselK1
        BesselK1e BesselY0 BesselY1 Dawsn Expint FresnelCos FresnelSin Spence""",
    "spectral": """
        BatchFFT BatchFFT2D BatchFFT3D BatchIFFT BatchIFFT2D BatchIFFT3D FFT FFT2D FFT3D
        FFTND IFFT IFFT2D IFFT3D IFFTND IRFFT IRFFT2D IRFFT3D IRFFTND RFFT RFFT2D RFFT3D
        RFFTND""",
    "list": """
        EmptyTensorList TensorListConcat TensorListConcatLists TensorListConcatV2
        TensorListElementShape TensorListFromTensor TensorListGather TensorListGetItem
        TensorListLength TensorListPopBack TensorListPushBack TensorListPushBackBatch
        TensorListReserve TensorListResize TensorListScatter
        TensorListScatterIntoExistingList TensorListScatterV2 TensorListSetItem
        TensorListSplit TensorListStack""",
    "map": """
        EmptyTensorMap TensorMapErase TensorMapHasKey TensorMapInsert TensorMapLookup
        TensorMapSize TensorMapStackKeys""",
    "control_flow": """
        ControlTrigger Enter Exit LoopCond Merge NextIteration NoOp RefEnter RefExit
        RefMerge RefNextIteration RefSelect RefSwitch Switch""",
    "functional": """
        Case DeviceIndex FakeParam For If PartitionedCall StatefulPartitionedCall
        StatelessCase StatelessIf StatelessWhile SymbolicGradient ToBool While""",
    "resource_variable": """
        AssignAddVariableOp AssignSubVariableOp AssignVariableOp ConsumeMutexLock
        DestroyResourceOp DisableCopyOnRead MutexLock MutexV2 ReadVariableOp ResourceGather
        ResourceGatherNd ResourceScatterAdd ResourceScatterDiv ResourceScatterMax
        ResourceScatterMin ResourceScatterMul ResourceScatterSub ResourceScatterUpdate
        VarHandleOp VarIsInitializedOp VariableShape""",
    "state": """
        Assign AssignAdd AssignSub CountUpTo DestroyTemporaryVariable IsVariableInitialized
        ResourceCountUpTo ResourceScatterNdAdd ResourceScatterNdMax ResourceScatterNdMin
        ResourceScatterNdSub ResourceScatterNdUpdate ScatterAdd ScatterDiv ScatterMax
        ScatterMin ScatterMul ScatterNdAdd ScatterNdMax ScatterNdMin ScatterNdSub
        ScatterNdUpdate ScatterSub ScatterUpdate TemporaryVariable Variable VariableV2""",
    "random": """
        Multinomial ParameterizedTruncatedNormal RandomGamma RandomGammaGrad RandomPoisson
        RandomPoissonV2 RandomShuffle RandomStandardNormal RandomUniform RandomUniformInt
        TruncatedNormal""",
    "stateful_random": """
        NonDeterministicInts RngReadAndSkip RngSkip StatefulRandomBinomial
        StatefulStandardNormal StatefulStandardNormalV2 StatefulTruncatedNormal
        StatefulUniform StatefulUniformFullInt StatefulUniformInt""",
    "stateless_random": """
        StatelessMultinomial StatelessParameterizedTruncatedNormal StatelessRandomBinomial
        StatelessRandomGammaV2 StatelessRandomNormal StatelessRandomPoisson
        StatelessRandomUniform StatelessRandomUniformFullInt StatelessRandomUniformInt
        StatelessTruncatedNormal""",
    "stateless_random_v2": """
        StatelessRandomGammaV3 StatelessRandomGetAlg StatelessRandomGetKeyCounter
        StatelessRandomGetKeyCounterAlg StatelessRandomNormalV2
        StatelessRandomUniformFullIntV2 StatelessRandomUniformIntV2 StatelessRandomUniformV2
        StatelessShuffle StatelessTruncatedNormalV2""",
    "random_index_shuffle": """
        RandomIndexShuffle""",
    "set": """
        DenseToDenseSetOperation DenseToSparseSetOperation SetSize
        SparseToSparseSetOperation""",
    "sparse": """
        AddManySparseToTensorsMap AddSparseToTensorsMap DeserializeManySparse
        DeserializeSparse SerializeManySparse SerializeSparse SparseAdd SparseAddGrad
        SparseConcat SparseCross SparseCrossHashed SparseCrossV2 SparseDenseCwiseAdd
        SparseDenseCwiseDiv SparseDenseCwiseMul SparseFillEmptyRows SparseFillEmptyRowsGrad
        SparseReduceMax SparseReduceMaxSparse SparseReduceSum SparseReduceSumSparse
        SparseReorder SparseReshape SparseSlice SparseSliceGrad SparseSoftmax
        SparseSparseMaximum SparseSparseMinimum SparseSplit SparseTensorDenseAdd
        SparseTensorDenseMatMul SparseToDense TakeManySparseFromTensorsMap""",
    "ragged_array": """
        RaggedCross RaggedFillEmptyRows RaggedFillEmptyRowsGrad RaggedGather""",
    "ragged_conversion": """
        RaggedTensorFromVariant RaggedTensorToSparse RaggedTensorToTensor
        RaggedTensorToVariant RaggedTensorToVariantGradient""",
    "ragged_math": """
        RaggedRange""",
    "string": """
        AsString DecodeBase64 EncodeBase64 ReduceJoin RegexFullMatch RegexReplace
        StaticRegexFullMatch StaticRegexReplace StringFormat StringJoin StringLength
        StringLower StringNGrams StringSplit StringSplitV2 StringStrip StringToHashBucket
        StringToHashBucketFast StringToHashBucketStrong StringUpper Substr UnicodeDecode
        UnicodeDecodeWithOffsets UnicodeEncode UnicodeScript UnicodeTranscode
        UnsortedSegmentJoin""",
    "parsing": """
        DecodeCSV DecodeCompressed DecodeJSONExample DecodePaddedRaw DecodeRaw ParseExample
        ParseExampleV2 ParseSequenceExample ParseSequenceExampleV2 ParseSingleExample
        ParseSingleSequenceExample ParseTensor SerializeTensor StringToNumber""",
    "audio": """
        AudioSpectrogram DecodeWav EncodeWav Mfcc""",
    "ctc": """
        CTCBeamSearchDecoder CTCGreedyDecoder CTCLoss CTCLossV2""",
    "rnn": """
        BlockLSTM BlockLSTMGrad BlockLSTMGradV2 BlockLSTMV2 GRUBlockCell GRUBlockCellGrad
        LSTMBlockCell LSTMBlockCellGrad""",
    "cudnn_rnn": """
        CudnnRNN CudnnRNNBackprop CudnnRNNBackpropV2 CudnnRNNBackpropV3
        CudnnRNNCanonicalToParams CudnnRNNCanonicalToParamsV2 CudnnRNNParamsSize
        CudnnRNNParamsToCanonical CudnnRNNParamsToCanonicalV2 CudnnRNNV2 CudnnRNNV3""",
    "count": """
        DenseCountSparseOutput RaggedCountSparseOutput SparseCountSparseOutput""",
    "uniform_quant": """
        UniformDequantize UniformQuantize UniformQuantizedAdd UniformQuantizedClipByValue
        UniformQuantizedConvolution UniformQuantizedConvolutionHybrid UniformQuantizedDot
        UniformQuantizedDotHybrid UniformRequantize""",
    "composite_tensor": """
        CompositeTensorVariantFromComponents CompositeTensorVariantToComponents""",
    "manip": """
        Roll""",
    "lookup": """
        AnonymousHashTable AnonymousMutableDenseHashTable AnonymousMutableHashTable
        AnonymousMutableHashTableOfTensors HashTable HashTableV2 InitializeTable
        InitializeTableV2 LookupTableExport LookupTableExportV2 LookupTableFind
        LookupTableFindV2 LookupTableImport LookupTableImportV2 LookupTableInsert
        LookupTableInsertV2 LookupTableRemoveV2 LookupTableSize LookupTableSizeV2
        MutableDenseHashTable MutableDenseHashTableV2 MutableHashTable
        MutableHashTableOfTensors MutableHashTableOfTensorsV2 MutableHashTableV2""",
    "data_flow": """
        DynamicPartition DynamicStitch ParallelDynamicStitch Stack StackClose StackCloseV2
        StackPop StackPopV2 StackPush StackPushV2 StackV2 TensorArray TensorArrayClose
        TensorArrayCloseV2 TensorArrayCloseV3 TensorArrayConcat TensorArrayConcatV2
        TensorArrayConcatV3 TensorArrayGather TensorArrayGatherV2 TensorArrayGatherV3
        TensorArrayGrad TensorArrayGradV2 TensorArrayGradV3 TensorArrayGradWithShape
        TensorArrayPack TensorArrayRead TensorArrayReadV2 TensorArrayReadV3
        TensorArrayScatter TensorArrayScatterV2 TensorArrayScatterV3 TensorArraySize
        TensorArraySizeV2 TensorArraySizeV3 TensorArraySplit TensorArraySplitV2
        TensorArraySplitV3 TensorArrayUnpack TensorArrayV2 TensorArrayV3 TensorArrayWrite
        TensorArrayWriteV2 TensorArrayWriteV3""",
    "logging": """
        Assert Timestamp""",
}

ALLOWED_OPS = frozenset(op for names in ALLOWED_BY_MODULE.values() for op in names.split())

# Writing a checkpoint: only in the function the saver's save tensor runs.
SAVE_OPS = frozenset({"SaveV2", "Save", "SaveSlices", "MergeV2Checkpoints", "ShardedFilename",
                      "ShardedFilespec"})
# Reading the model's own variables back: only in the saver's restore op.
RESTORE_OPS = frozenset({"RestoreV2", "Restore", "RestoreSlice"})
