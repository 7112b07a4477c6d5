/**
 * An HTTP request as a FleetService request message: path parameters, query parameters and the
 * JSON body, merged and read with the protobuf JSON mapping (unknown fields are refused).
 * Query parameters use the field's JSON or proto name (`pageSize` or `page_size`); repeated
 * fields take the parameter several times or comma-separated values; enums also take their
 * short names in any case (`health=Degraded`, `sync=OutOfSync`); booleans take true/false/1/0
 * or no value (`?problemsOnly`); timestamps take RFC 3339.
 */
import {
  type DescEnum,
  type DescField,
  type DescMessage,
  fromJson,
  type JsonObject,
  type JsonValue,
  type MessageShape,
  ScalarType,
} from "@bufbuild/protobuf";

/** A request the hub cannot read; the HTTP API answers 400 with `message`. */
export class BadRequestError extends Error {
  override readonly name = "BadRequestError";
}

export type HttpInput = {
  params: Readonly<Record<string, string>>;
  query: URLSearchParams;
  /** The JSON body as text; "" for none. */
  body: string;
};

export function parseHttpInput<D extends DescMessage>(schema: D, input: HttpInput): MessageShape<D> {
  const json: JsonObject = { ...readBody(input.body) };
  for (const [key, text] of input.query) {
    const field = findField(schema, key);
    if (!field) throw new BadRequestError(`query parameter "${key}" is not a field of ${schema.name}`);
    addQueryValue(json, field, key, text);
  }
  for (const [name, value] of Object.entries(input.params)) {
    const field = findField(schema, name);
    if (!field) throw new Error(`route parameter ${name} is not a field of ${schema.name}`);
    const given = json[field.jsonName] ?? json[field.name];
    if (given !== undefined && given !== value) {
      throw new BadRequestError(
        `"${field.jsonName}" is ${JSON.stringify(given)} in the request but "${value}" in the path`,
      );
    }
    delete json[field.name];
    json[field.jsonName] = value;
  }
  try {
    return fromJson(schema, json);
  } catch (error) {
    throw new BadRequestError(`request: ${(error as Error).message}`);
  }
}

function readBody(body: string): JsonObject {
  if (body.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw new BadRequestError(`request body: not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new BadRequestError("request body: must be a JSON object");
  }
  return parsed as JsonObject;
}

function findField(schema: DescMessage, key: string): DescField | undefined {
  return schema.fields.find((field) => field.jsonName === key || field.name === key);
}

function addQueryValue(json: JsonObject, field: DescField, key: string, text: string): void {
  const name = field.jsonName;
  if (field.fieldKind === "list") {
    const values = text.split(",").filter((value) => value !== "");
    const read = (value: string) =>
      field.listKind === "enum" ? enumName(field.enum, value, key) : scalarValue(field, value, key);
    const list = (json[name] as JsonValue[] | undefined) ?? [];
    json[name] = [...list, ...values.map(read)];
    return;
  }
  if (json[name] !== undefined) throw new BadRequestError(`query parameter "${key}" is given twice`);
  if (field.fieldKind === "enum") json[name] = enumName(field.enum, text, key);
  else if (field.fieldKind === "scalar") json[name] = scalarValue(field, text, key);
  else if (field.fieldKind === "message" && field.message.typeName === "google.protobuf.Timestamp")
    json[name] = text;
  else
    throw new BadRequestError(
      `query parameter "${key}" cannot be given in the query; send it in a JSON body`,
    );
}

function scalarValue(field: DescField, text: string, key: string): JsonValue {
  const scalar = field.fieldKind === "scalar" || field.fieldKind === "list" ? field.scalar : undefined;
  if (scalar === ScalarType.BOOL) {
    if (text === "" || text === "true" || text === "1") return true;
    if (text === "false" || text === "0") return false;
    throw new BadRequestError(`query parameter "${key}": "${text}" is not true or false`);
  }
  return text;
}

/** The enum value's proto name for its full name, short name or number, in any case. */
function enumName(desc: DescEnum, text: string, key: string): string {
  const wanted = normalize(text);
  const value = desc.values.find(
    (candidate) =>
      normalize(candidate.name) === wanted ||
      normalize(candidate.localName) === wanted ||
      String(candidate.number) === text,
  );
  if (!value) {
    const names = desc.values
      .filter((candidate) => candidate.number !== 0)
      .map((candidate) => candidate.localName);
    throw new BadRequestError(`query parameter "${key}": "${text}" is not one of ${names.join(", ")}`);
  }
  return value.name;
}

function normalize(text: string): string {
  return text.replace(/[_\s-]/g, "").toLowerCase();
}
