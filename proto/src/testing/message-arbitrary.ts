// Random protobuf messages from a schema, for fuzz tests: init objects in which every field may be
// missing and every value is of its wire type, with the edge values that break handlers (the
// int32/int64/uint64 limits, 2^53 + 1, unknown enum numbers). fast-check is passed in rather than
// imported, so this module costs the packages that build it nothing at run time.
import { type DescField, type DescMessage, type MessageInitShape, ScalarType } from "@bufbuild/protobuf";
import type * as FastCheck from "fast-check";

/** The fast-check API, as its default import (`import fc from "fast-check"`) holds it. */
export type FastCheckApi = typeof FastCheck.default;

export type MessageArbitraryOptions = {
  /** Values of string fields, e.g. random strings mixed with the test's hostile ones. */
  string: FastCheck.Arbitrary<string>;
  /** Keys of map fields. Default: strings of up to 8 characters. */
  mapKey?: FastCheck.Arbitrary<string>;
  /** Longest value of a bytes field, in bytes. Default 32. */
  maxBytes?: number;
  /**
   * Draw half of the unsigned integers from 0..10 (uint32) and 0..1,000 (uint64), so that the
   * values a test holds, such as the seqs of what an agent has applied, get hit. Default false.
   */
  smallUnsigned?: boolean;
};

export type MessageArbitraries = {
  /** Init objects for `schema`; messages nested more than 3 deep are empty. */
  message<Desc extends DescMessage>(
    schema: Desc,
    depth?: number,
  ): FastCheck.Arbitrary<MessageInitShape<Desc>>;
  /** Values for one field: a scalar, an enum number, a message, a list or a map. */
  field(field: DescField, depth: number): FastCheck.Arbitrary<unknown>;
  /** Values of one scalar type, edge values among them. */
  scalar(type: ScalarType): FastCheck.Arbitrary<unknown>;
};

/** Messages nested deeper than this are empty; lists there are too. */
const MAX_DEPTH = 3;
/** Most items of a list or entries of a map field. */
const MAX_ITEMS = 4;

const INT32_EDGES = [0, -1, -2_147_483_648, 2_147_483_647];
const UINT32_EDGES = [0, 1, 4_294_967_295];
// 2^53 + 1 is the first integer a JavaScript number cannot hold.
const INT64_EDGES = [0n, -1n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n)];
const UINT64_EDGES = [0n, 1n, 2n ** 53n + 1n, 2n ** 64n - 1n];

/** The arbitraries of `fc` (fast-check's default export) for messages of any schema. */
export function messageArbitraries(fc: FastCheckApi, options: MessageArbitraryOptions): MessageArbitraries {
  const mapKey = options.mapKey ?? fc.string({ maxLength: 8 });
  const maxBytes = options.maxBytes ?? 32;
  const unsigned = <T>(
    small: FastCheck.Arbitrary<T>,
    full: FastCheck.Arbitrary<T>,
    edges: T[],
  ): FastCheck.Arbitrary<T> =>
    options.smallUnsigned
      ? fc.oneof({ arbitrary: small, weight: 2 }, full, fc.constantFrom(...edges))
      : fc.oneof(full, fc.constantFrom(...edges));
  const int32 = fc.oneof(fc.integer(), fc.constantFrom(...INT32_EDGES));
  const uint32 = unsigned(fc.nat(10), fc.nat(), UINT32_EDGES);
  const int64 = fc.oneof(
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.constantFrom(...INT64_EDGES),
  );
  const uint64 = unsigned(
    fc.bigInt({ min: 0n, max: 1_000n }),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    UINT64_EDGES,
  );

  function scalar(type: ScalarType): FastCheck.Arbitrary<unknown> {
    switch (type) {
      case ScalarType.STRING:
        return options.string;
      case ScalarType.BOOL:
        return fc.boolean();
      case ScalarType.BYTES:
        return fc.uint8Array({ maxLength: maxBytes });
      case ScalarType.DOUBLE:
        return fc.double();
      case ScalarType.FLOAT:
        return fc.float();
      case ScalarType.INT64:
      case ScalarType.SINT64:
      case ScalarType.SFIXED64:
        return int64;
      case ScalarType.UINT64:
      case ScalarType.FIXED64:
        return uint64;
      case ScalarType.UINT32:
      case ScalarType.FIXED32:
        return uint32;
      default:
        return int32;
    }
  }

  /** A declared number of the enum, or one it does not declare. */
  const enumNumber = (values: readonly { number: number }[]) =>
    fc.oneof(fc.constantFrom(...values.map((value) => value.number)), fc.integer({ min: -3, max: 50 }));

  function field(field: DescField, depth: number): FastCheck.Arbitrary<unknown> {
    switch (field.fieldKind) {
      case "scalar":
        return scalar(field.scalar);
      case "enum":
        return enumNumber(field.enum.values);
      case "message":
        return message(field.message, depth + 1);
      case "list": {
        const item =
          field.listKind === "scalar"
            ? scalar(field.scalar)
            : field.listKind === "enum"
              ? enumNumber(field.enum.values)
              : message(field.message, depth + 1);
        return fc.array(item, { maxLength: depth >= MAX_DEPTH ? 0 : MAX_ITEMS });
      }
      case "map": {
        const value =
          field.mapKind === "scalar"
            ? scalar(field.scalar)
            : field.mapKind === "enum"
              ? enumNumber(field.enum.values)
              : message(field.message, depth + 1);
        return fc.dictionary(mapKey, value, { maxKeys: MAX_ITEMS });
      }
    }
  }

  function message<Desc extends DescMessage>(
    schema: Desc,
    depth = 0,
  ): FastCheck.Arbitrary<MessageInitShape<Desc>> {
    if (depth > MAX_DEPTH) return fc.constant({}) as FastCheck.Arbitrary<MessageInitShape<Desc>>;
    const members: Record<string, FastCheck.Arbitrary<unknown>> = {};
    for (const member of schema.members) {
      if (member.kind === "oneof") {
        members[member.localName] = fc.oneof(
          fc.constant(undefined),
          ...member.fields.map((one) => field(one, depth).map((value) => ({ case: one.localName, value }))),
        );
      } else members[member.localName] = field(member, depth);
    }
    // Every value is of its field's wire type, which is what an init shape asks.
    return fc.record(members, { requiredKeys: [] }) as FastCheck.Arbitrary<MessageInitShape<Desc>>;
  }

  return { message, field, scalar };
}
